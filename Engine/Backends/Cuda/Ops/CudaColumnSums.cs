using MeZO.Engine.Backends.Cuda.Runtime;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>
/// Deterministic sums over rows, per column (Kernels/column_sums.cu): the rows are cut into chunks of
/// <see cref="ChunkRows"/>, each chunk summed in row order into a partial, then the partials added in chunk order. The
/// split depends on the shape alone, so the bits do too. A bias's gradient, and the norms' parameter gradients.
/// </summary>
internal static class CudaColumnSums
{
    /// <summary>Rows per partial: enough serial work per thread to hide its loads, few enough chunks for the finishing pass.</summary>
    public const int ChunkRows = 64;

    /// <summary>The partials of <paramref name="rows"/> rows, one row of the scratch (chunks, width) each; the grid's y limit.</summary>
    public static int Chunks(long rows, string what)
    {
        long chunks = (rows + ChunkRows - 1) / ChunkRows;
        return chunks <= LaunchShape.MaxGridYZ
            ? (int)chunks
            : throw new NotSupportedException($"{what}: {rows} rows exceed the column sums' grid ({LaunchShape.MaxGridYZ * ChunkRows} rows)");
    }

    /// <summary>The grid of a partials kernel: column blocks × chunks.</summary>
    public static LaunchShape PartialShape(int width, int chunks) =>
        new(new Dim3((uint)((width + LaunchShape.Threads - 1) / LaunchShape.Threads), (uint)chunks), new Dim3(LaunchShape.Threads));

    /// <summary>sums (width) += Σ_rows values (rows, width); <paramref name="partials"/>: scratch of Chunks(rows)·width floats.</summary>
    public static void Add(CudaBackend backend, nint values, int rows, int width, nint partials, nint sums, string what)
    {
        int chunks = Chunks(rows, what);
        backend.Launch(KernelCatalog.ColumnSums, "mezo_column_sums_partial", PartialShape(width, chunks),
            Pointer(values), I32(rows), I32(width), I32(ChunkRows), Pointer(partials));
        Finish(backend, partials, chunks, width, sums);
    }

    /// <summary>sums (width) += the column sums of partials (chunks, width), in chunk order.</summary>
    public static void Finish(CudaBackend backend, nint partials, int chunks, int width, nint sums) =>
        backend.Launch(KernelCatalog.ColumnSums, "mezo_column_sums_finish",
            new LaunchShape(new Dim3((uint)((width + LaunchShape.Threads - 1) / LaunchShape.Threads)), new Dim3(LaunchShape.Threads)),
            Pointer(partials), I32(chunks), I32(width), Pointer(sums));
}
