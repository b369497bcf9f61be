using MeZO.Engine.Backends.Cuda.Native;
using MeZO.Engine.Backends.Cuda.Ops;
using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cuda.Planning;

/// <summary>A kernel's cost entry: the parameter kinds it reads its arguments by, and its cost from one launch.</summary>
/// <param name="Parameters">the launch's argument kinds as <see cref="KernelCall.Parameters"/> spells them</param>
internal sealed record KernelCost(string Parameters, Func<KernelCall, WorkCost> Of);

/// <summary>
/// Bytes and FLOPs of every kernel a forward pass or a MeZO step launches, from the launch's own arguments (the
/// positions are those the launchers in Cuda/Ops pass), and of a cuBLASLt product from its <see cref="MatmulCall"/>.
/// Activations are float32 (weights any dtype, named by an argument or by the kernel). Traffic is compulsory traffic
/// (<see cref="WorkCost"/>); FLOPs count a fused multiply-add as two, and elementwise transcendental functions as the
/// handful of operations their fast paths cost: those kernels are bound by memory by a wide margin either way.
/// A launch whose argument kinds differ from its entry's fails loudly (<see cref="Of"/>): a kernel whose parameters
/// change must have its entry read again. A kernel without an entry fails too; KernelCostsTests lists every kernel a
/// forward pass or MeZO step can launch, so a new one is caught before anything runs.
/// </summary>
internal static class KernelCosts
{
    private const int F32 = sizeof(float), Index = sizeof(int);

    /// <summary>
    /// z per element (Kernels/philox.cuh): exact Box–Muller is about 30 double operations per element (its own
    /// header's count: the log and sincos polynomials, sqrt, the scaling), counted as 32 FLOPs on the FP64 pipe; the
    /// fast variant the same count in float32. Philox's 32-bit integer products run on the integer pipe and are not counted.
    /// </summary>
    private const double NoiseFlops = 32;

    public static IReadOnlyDictionary<string, KernelCost> ByKernel { get; } = Table();

    /// <summary>The cost of a recorded launch; a kernel with no entry, or launched with other argument kinds, is an error.</summary>
    public static WorkCost Of(KernelCall call)
    {
        if (!ByKernel.TryGetValue(call.Kernel, out var entry))
            throw new InvalidOperationException(
                $"{call.Kernel} has no cost entry: add one to Engine/Backends/Cuda/Planning/KernelCosts.cs (the plan cannot price it)");
        if (entry.Parameters != call.Parameters)
            throw new InvalidOperationException(
                $"{call.Kernel} was launched with ({call.Parameters}) but its cost entry reads ({entry.Parameters}): " +
                "its parameters changed; read its launcher again and update Engine/Backends/Cuda/Planning/KernelCosts.cs");
        return entry.Of(call);
    }

    /// <summary>output(M, N) = x(M, K)·Wᵀ + bias on cuBLASLt: 2MNK FLOPs (+ MN for the bias) on the pipe the types select.</summary>
    public static WorkCost Product(in MatmulCall c)
    {
        long m = c.M, n = c.N, k = c.K;
        long read = m * k * Size(c.XType) + n * k * Size(c.WType) + (c.Bias != 0 ? n * Size(c.BiasType) : 0);
        var pipe = c.Compute == CublasComputeType.Compute32FFastTF32 ? ComputePipe.Tf32Tensor
            : c.XType == CudaDataType.R32F ? ComputePipe.Fp32 : ComputePipe.HalfTensor;
        string type = pipe switch { ComputePipe.Tf32Tensor => "tf32", ComputePipe.Fp32 => "fp32", _ => c.WType == CudaDataType.R16BF ? "bf16" : "f16" };
        if (c.Accumulate) read += m * n * Size(c.OutputType); // β = 1 reads C, the output itself
        return new WorkCost($"{m}×{n}×{k} {type}", read, m * n * Size(c.OutputType), 2.0 * m * n * k + (c.Bias != 0 ? m * n : 0), pipe);
    }

    private static long Size(CudaDataType type) => type == CudaDataType.R32F ? 4 : 2;

    private static long Size(int dtype) => ((DType)dtype).SizeOf();

    private static Dictionary<string, KernelCost> Table()
    {
        var table = new Dictionary<string, KernelCost>(StringComparer.Ordinal);
        void Add(string kernel, string parameters, Func<KernelCall, WorkCost> of) => table.Add(kernel, new KernelCost(parameters, of));

        // Activations are read and written in their own dtype (an int argument, or a byte size for plain copies); what the
        // kernels compute stays float32.

        // embedding.cu (table, dtype, ids, output, output dtype, width, vocab, accumulate, fault): one block per id.
        Add("mezo_embedding", "pippiiiip", c =>
        {
            long rows = c.GridX, width = c.I32(5), size = Size(c.I32(4));
            bool accumulate = c.I32(7) != 0;
            return new(Rows(rows, width), rows * width * Size(c.I32(1)) + rows * Index + (accumulate ? rows * width * size : 0),
                rows * width * size, accumulate ? rows * width : 0, ComputePipe.Fp32);
        });
        // gather_rows.cu (x, rows, output, element bytes, width, x rows, fault): one block per selected row.
        Add("mezo_gather_rows", "pppiiip", c =>
        {
            long rows = c.GridX, width = c.I32(4), size = c.I32(3);
            return new(Rows(rows, width), rows * width * size + rows * Index, rows * width * size, 0, ComputePipe.Fp32);
        });
        // slice_columns.cu (x, x dtype, output, output dtype, x width, start, output width, count).
        Add("mezo_slice_columns", "pipiiiil", c =>
        {
            long n = c.I64(7);
            return new(Count(n), n * Size(c.I32(1)), n * Size(c.I32(3)), 0, ComputePipe.Fp32);
        });
        // kv_append.cu (keys, values, key cache, value cache, element bytes, T, capacity, width, past, count): keys and values.
        Add("mezo_kv_append", "ppppiiiiil", c =>
        {
            long n = 2 * c.I64(9), size = c.I32(4);
            return new(Count(n), n * size, n * size, 0, ComputePipe.Fp32);
        });
        // layernorm.cu (x, x dtype, w, w dtype, bias, bias dtype or −1, eps, output, width): mean and variance (4 per
        // element), then (x − μ)·rstd·w + b (4 per element).
        Add("mezo_layernorm", "pipipifpi", c =>
        {
            long rows = c.GridX, width = c.I32(8), size = Size(c.I32(1));
            long parameters = width * Size(c.I32(3)) + (c.I32(5) >= 0 ? width * Size(c.I32(5)) : 0);
            return new(Rows(rows, width), rows * width * size + parameters, rows * width * size, 8.0 * rows * width, ComputePipe.Fp32);
        });
        // rmsnorm.cu (x, x dtype, w, w dtype, eps, output, width): the mean square (2 per element), x·rstd·w (2 per element).
        Add("mezo_rmsnorm", "pipifpi", c =>
        {
            long rows = c.GridX, width = c.I32(6), size = Size(c.I32(1));
            return new(Rows(rows, width), rows * width * size + width * Size(c.I32(3)), rows * width * size, 4.0 * rows * width, ComputePipe.Fp32);
        });
        // rope.cu (x, dtype, positions, inverse frequencies, heads, head width, half) in place: a rotation, 3 per element.
        Add("mezo_rope", "pippiii", c =>
        {
            long rows = c.GridX, n = rows * c.I32(4) * c.I32(5), size = Size(c.I32(1));
            return new(Rows(rows, c.I32(4) * c.I32(5)), n * size + rows * Index + c.I32(6) * F32, n * size, 3.0 * n, ComputePipe.Fp32);
        });
        // attention.cu (q, keys, values, dtype, key mask, output, T, H, KVH, D, capacity, past, window, scale), grid (T/16,
        // H, B); 16-bit activations are widened into its float32 tiles.
        Add("mezo_attention", "pppippiiiiiiif", c => Attention(c, Size(c.I32(3)), ComputePipe.Fp32, first: 6));
        // flash_attention.cu (q, keys, values, key mask, output, T, H, KVH, D, capacity, past, window, scale, dtype): 16-bit
        // q, caches and output, QKᵀ and PV on the tensor cores.
        foreach (int maxDim in new[] { 64, 128, 256 })
            Add($"mezo_flash_attention_{maxDim}", "pppppiiiiiiifi", c => Attention(c, Size(c.I32(13)), ComputePipe.HalfTensor, first: 5));
        // activation.cu (x, dtype, n) in place.
        Add("mezo_relu", "pil", c => InPlace(c.I64(2), Size(c.I32(1)), 1));
        Add("mezo_gelu_tanh", "pil", c => InPlace(c.I64(2), Size(c.I32(1)), 10));
        Add("mezo_gelu_erf", "pil", c => InPlace(c.I64(2), Size(c.I32(1)), 10));
        Add("mezo_silu", "pil", c => InPlace(c.I64(2), Size(c.I32(1)), 5));
        // silu_mul.cu (gate, up, dtype, n): gate ← silu(gate)·up.
        Add("mezo_silu_mul", "ppil", c => Binary(c.I64(3), Size(c.I32(2)), 6));
        // add.cu (x, y, dtype, n) and (x, y, dtype, scale, n): x ← x + y, x ← x + scale·y.
        Add("mezo_add", "ppil", c => Binary(c.I64(3), Size(c.I32(2)), 1));
        Add("mezo_add_scaled", "ppifl", c => Binary(c.I64(4), Size(c.I32(2)), 2));
        // log_softmax_gather.cu (logits, dtype, targets, output, vocab, fault): max, then Σ exp (3 per element), float32 out.
        Add("mezo_log_softmax_gather", "pippip", c =>
        {
            long rows = c.GridX, vocab = c.I32(4);
            return new(Rows(rows, vocab), rows * vocab * Size(c.I32(1)) + rows * Index, rows * F32, 3.0 * rows * vocab, ComputePipe.Fp32);
        });
        // (logits slice, dtype, targets, state (rows, 3), width, first column): the running max and sum carried in the state.
        Add("mezo_log_softmax_accumulate", "pippii", c =>
        {
            long rows = c.GridX, width = c.I32(4);
            return new(Rows(rows, width), rows * width * Size(c.I32(1)) + rows * Index + rows * 3 * F32, rows * 3 * F32, 3.0 * rows * width,
                ComputePipe.Fp32);
        });
        // argmax.cu (logits, dtype, output, vocab).
        Add("mezo_argmax", "pipi", c =>
        {
            long rows = c.GridX, vocab = c.I32(3);
            return new(Rows(rows, vocab), rows * vocab * Size(c.I32(1)), rows * Index, rows * vocab, ComputePipe.Fp32);
        });
        // convert.cu (source, source dtype, destination, destination dtype, n).
        Add("mezo_convert", "pipil", c =>
        {
            long n = c.I64(4);
            return new(Count(n), n * Size(c.I32(1)), n * Size(c.I32(3)), 0, ComputePipe.Fp32);
        });
        // gemm_simt.cu and gemm_mma.cu (x, x and output dtype, W, W dtype, transposed, bias, bias dtype or −1, output, M, N,
        // K, epilogue): every operand read as stored, the output written in x's dtype (and read first when accumulating).
        foreach (var (kernel, pipe) in new[] { ("mezo_gemm_simt", ComputePipe.Fp32), ("mezo_gemm_mma_bf16", ComputePipe.HalfTensor),
                     ("mezo_gemm_mma_f16", ComputePipe.HalfTensor) })
            Add(kernel, "pipiipipiiii", c =>
            {
                long m = c.I32(8), n = c.I32(9), k = c.I32(10), activation = Size(c.I32(1));
                bool bias = c.I32(6) >= 0, accumulate = c.I32(11) == CudaLinear.EpilogueAccumulate;
                return new($"{m}×{n}×{k}", m * k * activation + n * k * Size(c.I32(3)) + (bias ? n * Size(c.I32(6)) : 0) +
                    (accumulate ? m * n * activation : 0), m * n * activation, 2.0 * m * n * k + (bias ? m * n : 0), pipe);
            });

        // perturbation.cu: z made per element (NoiseFlops), exact on FP64 or fast on FP32; the weight's dtype is in the name.
        foreach (var (suffix, size) in new[] { ("f32", 4), ("f16", 2), ("bf16", 2) })
            foreach (var (arithmetic, pipe) in new[] { ("exact", ComputePipe.Fp64), ("fast", ComputePipe.Fp32) })
            {
                // (W, destination, n, first index, seed, scale, vectorised): float32 W + scale·z.
                Add($"mezo_perturbed_copy_{suffix}_{arithmetic}", "ppuuufi", c =>
                {
                    long n = (long)c.U64(2);
                    return new(Count(n), n * size, n * F32, n * (NoiseFlops + 2), pipe);
                });
                // (W, plus, minus, n, first index, seed, two scales, vectorised): both streams' 16-bit W ± scale·z, z made once.
                if (size == 2)
                    Add($"mezo_perturbed_pair_{suffix}_{arithmetic}", "pppuuuffi", c =>
                    {
                        long n = (long)c.U64(3);
                        int streams = c.Pointer(2) == 0 ? 1 : 2;
                        return new(Count(n), n * size, streams * n * size, n * (NoiseFlops + 2 * streams), pipe);
                    });
                // (W, n, first index, seed, decay, step, vectorised, subject, fault): W ← round(W·decay − step·z), in place.
                Add($"mezo_update_{suffix}_{arithmetic}", "puuuffiip", c =>
                {
                    long n = (long)c.U64(1);
                    return new(Count(n), n * size, n * size, n * (NoiseFlops + 3), pipe);
                });
            }
        // (table, dtype, ids, output, output dtype, width, vocab, first index, seed, scale, accumulate, fault): rows of θ + scale·z.
        foreach (var (arithmetic, pipe) in new[] { ("exact", ComputePipe.Fp64), ("fast", ComputePipe.Fp32) })
            Add($"mezo_perturbed_embedding_{arithmetic}", "pippiiiuufip", c =>
            {
                long rows = c.GridX, width = c.I32(5), n = rows * width, size = Size(c.I32(4));
                bool accumulate = c.I32(10) != 0;
                return new(Rows(rows, width), n * Size(c.I32(1)) + rows * Index + (accumulate ? n * size : 0), n * size,
                    n * (NoiseFlops + 2 + (accumulate ? 1 : 0)), pipe);
            });
        return table;
    }

    /// <summary>
    /// Causal attention over a (B, T, H, D) call with elements of <paramref name="size"/> bytes, grid (…, H, B): per query
    /// and visible key, q·k and p·v (2D FLOPs each) plus the online softmax's few operations.
    /// </summary>
    /// <param name="first">the argument index of T, which H, KVH, D, capacity, past and window follow</param>
    private static WorkCost Attention(KernelCall c, long size, ComputePipe pipe, int first)
    {
        long batch = c.Shape.Grid.Z, length = c.I32(first), heads = c.I32(first + 1), kvHeads = c.I32(first + 2), d = c.I32(first + 3);
        int past = c.I32(first + 5), window = c.I32(first + 6);
        long keys = past + length, visible = 0;
        for (long t = 0; t < length; t++) visible += window > 0 ? Math.Min(past + t + 1, window) : past + t + 1;
        long read = batch * length * heads * d * size + 2 * batch * keys * kvHeads * d * size + batch * keys * Index;
        return new($"{batch}×{length}×{heads}×{d}, {keys} keys", read, batch * length * heads * d * size,
            batch * heads * visible * (4.0 * d + 5), pipe);
    }

    private static string Rows(long rows, long width) => $"{rows} rows × {width}";

    private static string Count(long n) => $"{n} elements";

    private static WorkCost InPlace(long n, long size, double flopsPerElement) =>
        new(Count(n), n * size, n * size, flopsPerElement * n, ComputePipe.Fp32);

    private static WorkCost Binary(long n, long size, double flopsPerElement) =>
        new(Count(n), 2 * n * size, n * size, flopsPerElement * n, ComputePipe.Fp32);
}
