namespace MeZO.Engine.Backends.Cpu.MatMul;

/// <summary>
/// Block sizes of the packed matrix product C(M,N) = A(M,K)·B(K,N), in the GotoBLAS/BLIS arrangement:
/// a micro-kernel keeps an <see cref="Mr"/>×<see cref="Nr"/> tile of C in registers while it streams one
/// <see cref="Mr"/>-row panel of packed A (from L2) against one <see cref="Nr"/>-column panel of packed B (held in L1).
/// Constants rather than cache queries: they suit every x86 core with ≥ 48 KiB L1d and ≥ 512 KiB L2 (Zen 4/5,
/// Ice Lake and later) and stay correct, only a little slower, elsewhere.
/// The loops of the product are marked AggressiveOptimization: compiled fully optimised on their first call, as
/// tier-0 code runs them an order of magnitude slower during the first forward passes (and benchmark warm-ups).
/// </summary>
internal static class GemmBlocking
{
    /// <summary>Rows of a C tile: 14 rows × 2 vectors = 28 accumulators, leaving 4 of the 32 AVX-512 registers for
    /// the two B vectors and the broadcast A element.</summary>
    public const int Mr = 14;

    /// <summary>Columns of a C tile: two 16-lane vectors.</summary>
    public const int Nr = 32;

    /// <summary>Depth of one pass: a packed B panel is Kc×Nr floats = 32 KiB, which stays in a 48 KiB L1d next to the
    /// Mr×Kc A panel (14 KiB) streaming past it.</summary>
    public const int Kc = 256;

    /// <summary>Most rows one work item covers: its packed A block (Mc×Kc floats ≈ 350 KiB) stays in a 1 MiB L2
    /// while every B panel of the item sweeps over it.</summary>
    public const int Mc = 24 * Mr;

    /// <summary>Most bytes of C one work item covers: its C block stays in L2 across the k blocks (next to the A
    /// block) instead of streaming through L3 once per block.</summary>
    public const int ItemBytes = 128 * 1024;

    /// <summary>
    /// Work items of at most this many rows prefetch their next weight panel while packing the current one. Few rows
    /// make the product weight-bound — each panel serves few tiles, so DRAM latency of the 32 scattered row pieces
    /// dominates; with many rows the prefetched lines would only push the panel in use out of L1.
    /// </summary>
    public const int PrefetchMaxRows = 128;

    /// <summary>Products with at most this many rows stream the weight unpacked (token-by-token decoding).</summary>
    public const int StreamingMaxRows = 4;
}
