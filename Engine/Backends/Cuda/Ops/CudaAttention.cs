using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Tensors;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>
/// Causal attention with a padding mask and an optional sliding window (Kernels/attention.cu): blocks of 16 queries of
/// one (batch, head), on float32 or 16-bit activations widened into float32 tiles, the output rounded once. 16-bit
/// activations go to the tensor-core kernel (CudaFlashAttention) where it serves the head width and the device.
/// </summary>
internal static class CudaAttention
{
    /// <summary>The kernel keeps a query's output row in registers, eight floats per lane: at most 256 features.</summary>
    public const int MaxHeadDim = 256;

    private const int QueriesPerBlock = 16, KeysPerTile = 32, Warps = 4, Threads = Warps * 32;

    /// <summary>attention.cu's tiling, which it takes from here (NVRTC -D options).</summary>
    public static IReadOnlyList<(string Name, int Value)> Defines { get; } =
    [
        ("ATTENTION_QUERIES", QueriesPerBlock), ("ATTENTION_WARPS", Warps), ("ATTENTION_KEYS", KeysPerTile),
        ("ATTENTION_MAX_HEAD_DIM", MaxHeadDim),
    ];

    /// <summary>Dynamic shared memory of one block: keys (32, D + 1), values (32, D), queries (16, D), mask (32).</summary>
    public static int SharedBytes(int headDim) =>
        sizeof(float) * (KeysPerTile * (headDim + 1) + KeysPerTile * headDim + QueriesPerBlock * headDim + KeysPerTile);

    public static void Causal(CudaBackend backend, Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength,
        float scale, int window, Tensor output)
    {
        if (q.DType != DType.F32 && CudaFlashAttention.Serves(backend, q, keyCache, valueCache, output))
        {
            CudaFlashAttention.Run(backend, q, keyCache, valueCache, keyMask, pastLength, scale, window, output);
            return;
        }
        int batch = q.Shape[0], length = q.Shape[1], heads = q.Shape[2], headDim = q.Shape[3];
        if (batch == 0 || length == 0 || heads == 0) return;
        if (headDim > MaxHeadDim)
            throw new NotSupportedException($"Attention: head width {headDim} of '{q.Name}' is above the CUDA kernel's {MaxHeadDim}");
        if (heads > LaunchShape.MaxGridYZ || batch > LaunchShape.MaxGridYZ)
            throw new NotSupportedException($"Attention: {batch} sequences × {heads} heads of '{q.Name}' exceed the kernel's grid " +
                                            $"({LaunchShape.MaxGridYZ} of each)");
        var grid = new Dim3((uint)((length + QueriesPerBlock - 1) / QueriesPerBlock), (uint)heads, (uint)batch);
        backend.Launch(KernelCatalog.Attention, "mezo_attention", new LaunchShape(grid, new Dim3(Threads), SharedBytes(headDim)),
            Pointer(q.Address), Pointer(keyCache.Address), Pointer(valueCache.Address), I32((int)q.DType), Pointer(keyMask.Address),
            Pointer(output.Address), I32(length), I32(heads), I32(keyCache.Shape[2]), I32(headDim), I32(keyCache.Shape[1]),
            I32(pastLength), I32(window), F32(scale));
    }
}
