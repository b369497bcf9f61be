using MeZO.Engine.Backends.Cuda.Native;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cuda.Runtime;

/// <summary>
/// Matrix products through cuBLASLt, laid out as <see cref="ColumnMajorProduct"/> describes. Descriptors and the
/// heuristic's algorithm are made once per shape, types and operand alignment and kept; a product is then one library
/// call on the backend's stream, into a workspace allocated once (which also makes the call legal in graph capture).
/// Where the heuristic has no algorithm for a shape, that is remembered and <see cref="Supports"/> says so.
/// </summary>
internal sealed unsafe class CublasLtProducts : IMatrixProducts
{
    /// <summary>Scratch cuBLASLt may use (split-K and the like): 32 MiB, as PyTorch gives it on Hopper.</summary>
    private const long WorkspaceBytes = 32L << 20;

    private readonly CudaContextHandle _context;
    private readonly CudaStreamHandle _stream;
    private readonly CublasLtHandle _handle;
    private readonly CudaMemory _workspace;
    private readonly Dictionary<PlanKey, Plan?> _plans = []; // null: no algorithm for that key

    private CublasLtProducts(CudaContextHandle context, CudaStreamHandle stream, CublasLtHandle handle, CudaMemory workspace,
        string description)
    {
        _context = context;
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
        try
        {
            ulong version = CublasLt.cublasLtGetVersion();
            var workspace = new CudaMemory(context, WorkspaceBytes, report, MemoryCategory.Workspace);
            note = $"cuBLASLt {version / 10000}.{version / 100 % 100}.{version % 100} ({Path.GetFileName(probe.Path)})";
            return new CublasLtProducts(context, stream, handle, workspace, note);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public bool Supports(in MatmulCall call) => PlanFor(call) is not null;

    public void Linear(in MatmulCall call)
    {
        var plan = PlanFor(call)
            ?? throw new InvalidOperationException($"cuBLASLt has no algorithm for {call}: ask Supports before Linear");
        if (call.Bias != 0)
        {
            nint bias = call.Bias;
            CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulDescSetAttribute(plan.Operation.Raw, MatmulDescAttribute.BiasPointer,
                &bias, (nuint)sizeof(nint)));
        }
        float alpha = 1, beta = call.Accumulate ? 1 : 0;
        var algo = plan.Algorithm;
        _context.MakeCurrent(); // cuBLASLt launches through the runtime API, which works in the calling thread's context
        CudaException.ThrowIfFailed(CublasLt.cublasLtMatmul(_handle.Raw, plan.Operation.Raw, &alpha, call.W, plan.A.Raw,
            call.X, plan.B.Raw, &beta, call.Output, plan.D.Raw, call.Output, plan.D.Raw, &algo,
            _workspace.DangerousGetHandle(), (nuint)WorkspaceBytes, _stream.Raw));
    }

    private Plan? PlanFor(in MatmulCall call)
    {
        var key = new PlanKey(call.M, call.N, call.K, call.XType, call.WType, call.OutputType, call.Transposed,
            call.Bias == 0 ? null : call.BiasType, call.Relu, call.Compute, Alignment(call.X), Alignment(call.W), Alignment(call.Output),
            call.Bias == 0 ? 256 : Alignment(call.Bias));
        if (_plans.TryGetValue(key, out var plan)) return plan;
        _context.MakeCurrent();
        return _plans[key] = Plan.TryCreate(_handle, key, call.Bias, WorkspaceBytes);
    }

    /// <summary>The largest power of two (up to 256) dividing an address: the heuristic must know how aligned operands are.</summary>
    private static int Alignment(nint address) => address == 0 ? 256 : (int)Math.Min(256, (long)address & -(long)address);

    public void Dispose()
    {
        foreach (var plan in _plans.Values) plan?.Dispose();
        _plans.Clear();
        _workspace.Dispose();
        _handle.Dispose();
    }

    /// <summary><see cref="BiasType"/> null: no bias.</summary>
    private readonly record struct PlanKey(int M, int N, int K, CudaDataType XType, CudaDataType WType, CudaDataType OutputType,
        bool Transposed, CudaDataType? BiasType, bool Relu, CublasComputeType Compute, int XAlignment, int WAlignment, int OutputAlignment,
        int BiasAlignment);

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

        /// <summary>
        /// The plan for a key, or null when the heuristic finds no algorithm (NOT_SUPPORTED or none returned);
        /// <paramref name="bias"/> is a bias of the key's alignment (0 without a bias).
        /// </summary>
        public static Plan? TryCreate(CublasLtHandle handle, PlanKey key, nint bias, long workspaceBytes)
        {
            var layout = ColumnMajorProduct.Of(key.M, key.N, key.K, key.Transposed);
            var descriptors = new List<CublasLtDescriptorHandle>();
            try
            {
                var operation = Add(CublasLtDescriptorHandle.Matmul(key.Compute));
                var transA = layout.TransposeA ? CublasOperation.Transpose : CublasOperation.None;
                var transB = CublasOperation.None;
                var epilogue = (key.BiasType is null, key.Relu) switch
                {
                    (true, false) => CublasLtEpilogue.Default,
                    (false, false) => CublasLtEpilogue.Bias,
                    (true, true) => CublasLtEpilogue.Relu,
                    (false, true) => CublasLtEpilogue.ReluBias,
                };
                CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulDescSetAttribute(operation.Raw, MatmulDescAttribute.TransA, &transA, sizeof(int)));
                CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulDescSetAttribute(operation.Raw, MatmulDescAttribute.TransB, &transB, sizeof(int)));
                CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulDescSetAttribute(operation.Raw, MatmulDescAttribute.Epilogue, &epilogue, sizeof(int)));
                // The heuristic takes the bias alignment from the bias pointer (cublasLt.h, CUBLASLT_MATMUL_DESC_BIAS_POINTER);
                // left at its NULL default it would assume any alignment and may pick a kernel this key's biases cannot feed.
                if (key.BiasType is { } biasType)
                {
                    CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulDescSetAttribute(operation.Raw, MatmulDescAttribute.BiasPointer,
                        &bias, (nuint)sizeof(nint)));
                    // Unset, the bias is read as D's type; a float32 bias under a 16-bit D (a perturbed bias in scratch,
                    // a float32 checkpoint's bias) is named, so the epilogue adds it to the float32 accumulator as it is:
                    // rounded to D's type first, the output would be rounded twice.
                    if (biasType != key.OutputType)
                    {
                        int type = (int)biasType;
                        CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulDescSetAttribute(operation.Raw,
                            MatmulDescAttribute.BiasDataType, &type, sizeof(int)));
                    }
                }
                var a = Add(Layout(key.WType, layout.A));
                var b = Add(Layout(key.XType, layout.B));
                var d = Add(Layout(key.OutputType, layout.D));

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
                var status = CublasLt.cublasLtMatmulAlgoGetHeuristic(handle.Raw, operation.Raw, a.Raw, b.Raw, d.Raw, d.Raw,
                    preference.Raw, 1, &result, out int found);
                // "No algorithm" comes back as NOT_SUPPORTED, or as success with none found, depending on the version.
                if (status == CublasStatus.NotSupported || (status == CublasStatus.Success && found == 0))
                {
                    descriptors.ForEach(h => h.Dispose());
                    return null;
                }
                CudaException.ThrowIfFailed(status, $"cublasLtMatmulAlgoGetHeuristic(({key.M} × {key.K})·({key.N} × {key.K})ᵀ, " +
                                                    $"{key.XType}/{key.WType} → {key.OutputType}, {key.Compute})");
                return new Plan(operation, a, b, d, result.Algo);
            }
            catch
            {
                descriptors.ForEach(h => h.Dispose());
                throw;
            }

            CublasLtDescriptorHandle Add(CublasLtDescriptorHandle descriptor)
            {
                descriptors.Add(descriptor);
                return descriptor;
            }
        }

        private static CublasLtDescriptorHandle Layout(CudaDataType type, ColumnMajorLayout layout) =>
            CublasLtDescriptorHandle.Layout(type, layout.Rows, layout.Columns, layout.LeadingDimension);

        public void Dispose()
        {
            Operation.Dispose();
            A.Dispose();
            B.Dispose();
            D.Dispose();
        }
    }
}
