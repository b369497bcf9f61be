using MeZO.Engine.Backends.Cuda.Native;

namespace MeZO.Engine.Backends.Cuda.Runtime;

/// <summary>
/// output(M, N) = x(M, K)·Wᵀ + bias with every matrix row-major: W is (N, K) as nn.Linear stores it, or (K, N) when
/// <see cref="Transposed"/>; bias (N) is of <see cref="BiasType"/> (the output's type, or float32 under a 16-bit output)
/// or absent (0). The product is accumulated in float32 and the bias added to it before the one rounding to
/// <see cref="OutputType"/>.
/// </summary>
/// <param name="Relu">max(0, ·) on x·Wᵀ + bias before D's rounding (cuBLASLt's RELU epilogue: OPT's fc1 and its ReLU)</param>
/// <param name="Accumulate">D += x·Wᵀ + bias (β = 1 with C = D: a residual add in the product)</param>
internal readonly record struct MatmulCall(int M, int N, int K, nint X, CudaDataType XType, nint W, CudaDataType WType,
    bool Transposed, nint Bias, CudaDataType BiasType, nint Output, CudaDataType OutputType, CublasComputeType Compute,
    bool Relu = false, bool Accumulate = false);

/// <summary>A matrix-product library (cuBLASLt) behind the Linear op.</summary>
internal interface IMatrixProducts : IDisposable
{
    /// <summary>"cuBLASLt 11.11.3 (libcublasLt.so.11)".</summary>
    string Description { get; }

    /// <summary>
    /// Whether the library has an algorithm for this call's shape, types and operand alignment (found once per such
    /// key, then remembered); where it has none, the caller computes the product on the NVRTC kernels instead.
    /// </summary>
    bool Supports(in MatmulCall call);

    /// <summary>Queues the product; only for a call <see cref="Supports"/> accepts.</summary>
    void Linear(in MatmulCall call);
}
