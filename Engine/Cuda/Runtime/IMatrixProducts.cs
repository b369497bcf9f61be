using MeZO.Engine.Cuda.Native;

namespace MeZO.Engine.Cuda.Runtime;

/// <summary>
/// output(M, N) = x(M, K)·Wᵀ + bias with every matrix row-major: W is (N, K) as nn.Linear stores it, or (K, N) when
/// <see cref="Transposed"/>; bias (N) is float32 or absent (0); output is float32.
/// </summary>
internal readonly record struct MatmulCall(int M, int N, int K, nint X, CudaDataType XType, nint W, CudaDataType WType,
    bool Transposed, nint Bias, nint Output, CublasComputeType Compute);

/// <summary>A matrix-product library (cuBLASLt) behind the Linear op.</summary>
internal interface IMatrixProducts : IDisposable
{
    /// <summary>"cuBLASLt 11.11.3 (libcublasLt.so.11)".</summary>
    string Description { get; }

    void Linear(in MatmulCall call);
}
