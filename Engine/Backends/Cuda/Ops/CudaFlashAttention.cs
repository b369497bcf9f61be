using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Tensors;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>
/// Causal attention for bf16/f16 activations on tensor cores (Kernels/flash_attention.cu): IBackend.Attention's
/// semantics, blocks of 64 queries of one (batch, head), keys in tiles of 64 (32 above D = 128), mma.sync m16n8k16
/// (compute capability 8.0).
/// </summary>
internal static class CudaFlashAttention
{
    /// <summary>The first GPUs with mma.sync m16n8k16 for bf16 (Ampere).</summary>
    public const int MinComputeCapability = 80;

    /// <summary>
    /// Head dims the kernel takes: whole mma k-steps (multiples of 16), at most 256 (its float32 output tile of 16 × D
    /// lives in registers), at least 64 (its rare non-finite-value pass reuses the key tile for a warp's weights).
    /// </summary>
    public const int MinHeadDim = 64, MaxHeadDim = 256;

    /// <summary>A warp owns 16 query rows (one mma tile high); shared rows padded by 8 elements.</summary>
    private const int Warps = 4, QueriesPerBlock = 16 * Warps, Pad = 8, Threads = Warps * 32;

    /// <summary>
    /// Keys a tile: 64, or 32 above D = 128, where 64 would take the block's shared memory past the 99 KiB of compute
    /// capability 8.6 and 8.9 (105 KiB at D = 256; 71 KiB with 32) and S's registers are needed by the output tile.
    /// </summary>
    private const int KeysPerTile = 64, KeysPerWideTile = 32;

    /// <summary>flash_attention.cu's tiling, which it takes from here (NVRTC -D options).</summary>
    public static IReadOnlyList<(string Name, int Value)> Defines { get; } =
    [
        ("FLASH_QUERIES", QueriesPerBlock), ("FLASH_WARPS", Warps), ("FLASH_KEYS", KeysPerTile), ("FLASH_WIDE_KEYS", KeysPerWideTile),
        ("FLASH_PAD", Pad),
    ];

    /// <summary>The kernel for a head dim: the smallest output tile (64, 128 or 256 dims) that holds it, and its key tile.</summary>
    private static (int MaxDim, int Keys) Kernel(int headDim) =>
        headDim <= 64 ? (64, KeysPerTile) : headDim <= 128 ? (128, KeysPerTile) : (256, KeysPerWideTile);

    public static bool Supports(int headDim, DType type) =>
        type is DType.BF16 or DType.F16 && headDim % 16 == 0 && headDim is >= MinHeadDim and <= MaxHeadDim;

    /// <summary>
    /// Whether this kernel can take the call on this device: its dtype and head width, compute capability 8.0, and every
    /// tensor 16-byte aligned. Where it cannot, CudaAttention runs Kernels/attention.cu, which computes the same.
    /// </summary>
    public static bool Serves(CudaBackend backend, Tensor q, Tensor keyCache, Tensor valueCache, Tensor output) =>
        backend.Runtime.ComputeCapability >= MinComputeCapability && Supports(q.Shape[3], q.DType) &&
        q.Address % 16 == 0 && keyCache.Address % 16 == 0 && valueCache.Address % 16 == 0 && output.Address % 16 == 0;

    /// <summary>
    /// Dynamic shared memory of one block, 16-bit elements: queries (64, D + 8), keys (K, D + 8), values transposed
    /// (D, K + 8); then int32 key flags (K), non-finite-value marks (K) and the tile's mark (1); K keys a tile.
    /// </summary>
    public static int SharedBytes(int headDim)
    {
        int keys = Kernel(headDim).Keys;
        return sizeof(ushort) * ((QueriesPerBlock + keys) * (headDim + Pad) + headDim * (keys + Pad)) + sizeof(int) * (2 * keys + 1);
    }

    /// <summary>
    /// q (B, T, H, D), caches (B, Tc, KVH, D), output (B, T, H, D), all one 16-bit dtype; keyMask (B, Tc) I32. The
    /// shapes are IBackend.Attention's (checked by its contract); this checks what only this kernel needs.
    /// </summary>
    internal static void Run(CudaBackend backend, Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength,
        float scale, int window, Tensor output)
    {
        int batch = q.Shape[0], length = q.Shape[1], heads = q.Shape[2], headDim = q.Shape[3];
        int computeCapability = backend.Runtime.ComputeCapability;
        if (computeCapability < MinComputeCapability)
            throw new NotSupportedException($"Attention: the tensor-core kernel for '{q.Name}' needs compute capability " +
                                            $"{MinComputeCapability / 10}.0 (mma.sync m16n8k16); this GPU is {computeCapability / 10}.{computeCapability % 10}");
        if (!Supports(headDim, q.DType))
            throw new NotSupportedException($"Attention: the tensor-core kernel takes bf16 or f16 with a head width that is a " +
                                            $"multiple of 16 in [{MinHeadDim}, {MaxHeadDim}]; '{q.Name}' is {q.DType} of width {headDim}");
        foreach (var tensor in new[] { keyCache, valueCache, output })
            if (tensor.DType != q.DType)
                throw new ArgumentException($"Attention: '{tensor.Name}' is {tensor.DType} but '{q.Name}' is {q.DType}; the " +
                                            "tensor-core kernel takes q, the caches and the output in one dtype");
        foreach (var tensor in new[] { q, keyCache, valueCache, output })
            if (tensor.Address % 16 != 0)
                throw new NotSupportedException($"Attention: '{tensor.Name}' starts at an address that is not 16-byte aligned " +
                                                "(a view at an odd offset); the tensor-core kernel loads rows 16 bytes at a time");
        if (batch == 0 || length == 0 || heads == 0) return;
        if (heads > LaunchShape.MaxGridYZ || batch > LaunchShape.MaxGridYZ)
            throw new NotSupportedException($"Attention: {batch} sequences × {heads} heads of '{q.Name}' exceed the kernel's grid " +
                                            $"({LaunchShape.MaxGridYZ} of each)");

        var grid = new Dim3((uint)((length + QueriesPerBlock - 1) / QueriesPerBlock), (uint)heads, (uint)batch);
        backend.Launch(KernelCatalog.FlashAttention, $"mezo_flash_attention_{Kernel(headDim).MaxDim}",
            new LaunchShape(grid, new Dim3(Threads), SharedBytes(headDim)),
            Pointer(q.Address), Pointer(keyCache.Address), Pointer(valueCache.Address), Pointer(keyMask.Address),
            Pointer(output.Address), I32(length), I32(heads), I32(keyCache.Shape[2]), I32(headDim), I32(keyCache.Shape[1]),
            I32(pastLength), I32(window), F32(scale), I32((int)q.DType));
    }
}
