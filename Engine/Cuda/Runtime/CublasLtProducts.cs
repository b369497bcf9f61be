using MeZO.Engine.Backends;
using MeZO.Engine.Cuda.Native;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Cuda.Runtime;

/// <summary>
/// Matrix products through cuBLASLt. cuBLASLt is column-major; a row-major (R, C) matrix is the column-major (C, R)
/// one, so output(M, N) = x·Wᵀ is computed as the column-major outputᵀ(N, M) = op(W)·xᵀ: A = W with transpose
/// (nn.Linear's (N, K), which column-major reads as (K, N)) or without (Conv1D's (K, N), read as (N, K)), B = x read
/// as (K, M), and the bias epilogue adds bias[n] to row n of outputᵀ, which is column n of the output. Descriptors
/// and the heuristic's algorithm are made once per shape and kept; a product is then one library call.
/// </summary>
internal sealed unsafe class CublasLtProducts : IMatrixProducts
{
    /// <summary>Scratch cuBLASLt may use (split-K and the like): 32 MiB, as PyTorch gives it on Hopper.</summary>
    private const long WorkspaceBytes = 32L << 20;

    private readonly CudaStreamHandle _stream;
    private readonly CublasLtHandle _handle;
    private readonly CudaMemory _workspace;
    private readonly Dictionary<PlanKey, Plan> _plans = [];

    private CublasLtProducts(CudaStreamHandle stream, CublasLtHandle handle, CudaMemory workspace, string description)
    {
        _stream = stream;
        _handle = handle;
        _workspace = workspace;
        Description = description;
    }

    public string Description { get; }

    /// <summary>cuBLASLt on this context and stream, or null with the reason when the library is absent or will not start.</summary>
    public static CublasLtProducts? TryCreate(CudaContextHandle context, CudaStreamHandle stream, MemoryReport report,
        out string note)
    {
        var probe = CudaLibraries.Probe(CudaLibrary.CublasLt);
        if (!probe.Found)
        {
            note = $"no cuBLASLt ({probe.Describe()}): matrix products on NVRTC kernels";
            return null;
        }
        CublasLtHandle handle;
        try
        {
            handle = CublasLtHandle.Create(context);
        }
        catch (CudaException e)
        {
            note = $"cuBLASLt at {probe.Path} did not start ({e.ErrorName}): matrix products on NVRTC kernels";
            return null;
        }
        ulong version = CublasLt.cublasLtGetVersion();
        var workspace = new CudaMemory(context, WorkspaceBytes, report, MemoryCategory.Workspace);
        note = $"cuBLASLt {version / 10000}.{version / 100 % 100}.{version % 100} ({Path.GetFileName(probe.Path)})";
        return new CublasLtProducts(stream, handle, workspace, note);
    }

    public void Linear(in MatmulCall call)
    {
        var key = new PlanKey(call.M, call.N, call.K, call.XType, call.WType, call.Transposed, call.Bias != 0, call.Compute,
            Alignment(call.X), Alignment(call.W), Alignment(call.Output), call.Bias == 0 ? 256 : Alignment(call.Bias));
        if (!_plans.TryGetValue(key, out var plan)) _plans[key] = plan = Plan.Create(_handle, key, call.Bias, WorkspaceBytes);
        if (call.Bias != 0)
        {
            nint bias = call.Bias;
            CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulDescSetAttribute(plan.Operation.Raw, MatmulDescAttribute.BiasPointer,
                &bias, (nuint)sizeof(nint)));
        }
        float alpha = 1, beta = 0;
        var algo = plan.Algorithm;
        CudaException.ThrowIfFailed(CublasLt.cublasLtMatmul(_handle.Raw, plan.Operation.Raw, &alpha, call.W, plan.A.Raw,
            call.X, plan.B.Raw, &beta, call.Output, plan.D.Raw, call.Output, plan.D.Raw, &algo,
            _workspace.DangerousGetHandle(), (nuint)WorkspaceBytes, _stream.Raw));
    }

    /// <summary>The largest power of two (up to 256) dividing an address: the heuristic must know how aligned operands are.</summary>
    private static int Alignment(nint address) => address == 0 ? 256 : (int)Math.Min(256, (long)address & -(long)address);

    public void Dispose()
    {
        foreach (var plan in _plans.Values) plan.Dispose();
        _plans.Clear();
        _workspace.Dispose();
        _handle.Dispose();
    }

    private readonly record struct PlanKey(int M, int N, int K, CudaDataType XType, CudaDataType WType, bool Transposed, bool Bias,
        CublasComputeType Compute, int XAlignment, int WAlignment, int OutputAlignment, int BiasAlignment);

    /// <summary>The descriptors and chosen algorithm for one shape.</summary>
    private sealed class Plan : IDisposable
    {
        private Plan(CublasLtDescriptorHandle operation, CublasLtDescriptorHandle a, CublasLtDescriptorHandle b,
            CublasLtDescriptorHandle d, CublasLtMatmulAlgo algorithm)
        {
            Operation = operation;
            A = a;
            B = b;
            D = d;
            Algorithm = algorithm;
        }

        public CublasLtDescriptorHandle Operation { get; }
        public CublasLtDescriptorHandle A { get; }
        public CublasLtDescriptorHandle B { get; }
        public CublasLtDescriptorHandle D { get; }
        public CublasLtMatmulAlgo Algorithm { get; }

        /// <summary>The plan for one shape; <paramref name="bias"/> is a bias of the key's alignment (0 without a bias).</summary>
        public static Plan Create(CublasLtHandle handle, PlanKey key, nint bias, long workspaceBytes)
        {
            var operation = CublasLtDescriptorHandle.Matmul(key.Compute);
            var transA = key.Transposed ? CublasOperation.None : CublasOperation.Transpose;
            var transB = CublasOperation.None;
            var epilogue = key.Bias ? CublasLtEpilogue.Bias : CublasLtEpilogue.Default;
            CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulDescSetAttribute(operation.Raw, MatmulDescAttribute.TransA, &transA, sizeof(int)));
            CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulDescSetAttribute(operation.Raw, MatmulDescAttribute.TransB, &transB, sizeof(int)));
            CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulDescSetAttribute(operation.Raw, MatmulDescAttribute.Epilogue, &epilogue, sizeof(int)));
            // The heuristic takes the bias alignment from the bias pointer (cublasLt.h, CUBLASLT_MATMUL_DESC_BIAS_POINTER);
            // left at its NULL default it would assume any alignment and may pick a kernel this key's biases cannot feed.
            if (key.Bias)
                CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulDescSetAttribute(operation.Raw, MatmulDescAttribute.BiasPointer,
                    &bias, (nuint)sizeof(nint)));

            // Column-major views of the row-major buffers (see the class comment).
            var a = key.Transposed
                ? CublasLtDescriptorHandle.Layout(key.WType, key.N, key.K, key.N)
                : CublasLtDescriptorHandle.Layout(key.WType, key.K, key.N, key.K);
            var b = CublasLtDescriptorHandle.Layout(key.XType, key.K, key.M, key.K);
            var d = CublasLtDescriptorHandle.Layout(CudaDataType.R32F, key.N, key.M, key.N);

            using var preference = CublasLtDescriptorHandle.Preference();
            ulong workspace = (ulong)workspaceBytes;
            CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulPreferenceSetAttribute(preference.Raw,
                MatmulPreferenceAttribute.MaxWorkspaceBytes, &workspace, sizeof(ulong)));
            foreach (var (attribute, bytes) in new[]
                     {
                         (MatmulPreferenceAttribute.MinAlignmentABytes, key.WAlignment),
                         (MatmulPreferenceAttribute.MinAlignmentBBytes, key.XAlignment),
                         (MatmulPreferenceAttribute.MinAlignmentCBytes, key.OutputAlignment),
                         (MatmulPreferenceAttribute.MinAlignmentDBytes, key.OutputAlignment),
                     })
            {
                uint value = (uint)bytes;
                CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulPreferenceSetAttribute(preference.Raw, attribute, &value, sizeof(uint)));
            }

            CublasLtHeuristicResult result;
            CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulAlgoGetHeuristic(handle.Raw, operation.Raw, a.Raw, b.Raw, d.Raw, d.Raw,
                preference.Raw, 1, &result, out int found));
            if (found == 0)
                throw new NotSupportedException(
                    $"cuBLASLt has no algorithm for ({key.M} × {key.K}) · ({key.N} × {key.K})ᵀ with {key.XType}/{key.WType} inputs " +
                    $"and {key.Compute}; set MEZO_CUDA_MATMUL=kernels to use the NVRTC kernels");
            return new Plan(operation, a, b, d, result.Algo);
        }

        public void Dispose()
        {
            Operation.Dispose();
            A.Dispose();
            B.Dispose();
            D.Dispose();
        }
    }
}
