using MeZO.Engine.Backends.Cuda.Runtime;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>
/// The backward of causal attention (Kernels/attention_backward.cu; CPU twin: CpuAttentionBackward): one warp per
/// query for its gradient and softmax statistics, then one warp per cache slot for the key and value gradients, which
/// sum the group's query heads in a fixed order (no atomics).
/// </summary>
internal static class CudaAttentionBackward
{
    private const int Warps = 4;

    /// <summary>attention_backward.cu's block and the widest head a lane's registers hold, which it takes from here (NVRTC -D options).</summary>
    public static IReadOnlyList<(string Name, int Value)> Defines { get; } =
        [("ATTENTION_BACKWARD_WARPS", Warps), ("ATTENTION_BACKWARD_MAX_HEAD_DIM", CudaAttention.MaxHeadDim)];

    public static void Run(CudaBackend backend, Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength, float scale,
        int window, Tensor output, Tensor outputGrad, Tensor qGrad, Tensor keyGrad, Tensor valueGrad)
    {
        int batch = q.Shape[0], length = q.Shape[1], heads = q.Shape[2], headDim = q.Shape[3];
        int capacity = keyCache.Shape[1], kvHeads = keyCache.Shape[2];
        if (batch == 0 || length == 0 || heads == 0) return;
        if (headDim > CudaAttention.MaxHeadDim)
            throw new NotSupportedException(
                $"AttentionBackward: head width {headDim} of '{q.Name}' is above the CUDA kernel's {CudaAttention.MaxHeadDim}");
        long queries = (long)batch * length * heads, slots = (long)batch * kvHeads * (pastLength + length);
        nint stats = backend.GradientScratch.Reserve(backend.Capturing, queries * 3 * sizeof(float), 0).First; // (B, T, H, 3)
        var arguments = (ReadOnlySpan<KernelArgument>)
        [
            I32(batch), I32(length), I32(heads), I32(kvHeads), I32(headDim), I32(capacity), I32(pastLength), I32(window), F32(scale),
        ];
        backend.Launch(KernelCatalog.AttentionBackward, "mezo_attention_backward_query", Shape(queries),
            [Pointer(q.Address), Pointer(keyCache.Address), Pointer(valueCache.Address), Pointer(keyMask.Address), Pointer(output.Address),
                Pointer(outputGrad.Address), Pointer(qGrad.Address), Pointer(stats), .. arguments]);
        backend.Launch(KernelCatalog.AttentionBackward, "mezo_attention_backward_key", Shape(slots),
            [Pointer(q.Address), Pointer(keyCache.Address), Pointer(valueCache.Address), Pointer(keyMask.Address),
                Pointer(outputGrad.Address), Pointer(stats), Pointer(keyGrad.Address), Pointer(valueGrad.Address), .. arguments]);
    }

    /// <summary>One warp per task.</summary>
    private static LaunchShape Shape(long tasks)
    {
        long blocks = (tasks + Warps - 1) / Warps;
        return blocks <= LaunchShape.MaxGridX
            ? new LaunchShape(new Dim3((uint)blocks), new Dim3(Warps * 32))
            : throw new NotSupportedException($"AttentionBackward: {tasks} warps of work exceed a CUDA grid ({LaunchShape.MaxGridX} blocks)");
    }
}
