namespace MeZO.Engine.Backends.Cpu.Backward;

/// <summary>
/// How the backward ops reduce over rows without races or timing-dependent sums: the columns, not the rows, are split
/// over the cores, and each task walks every row in order for its own columns. Each column's sum is then one chain in
/// row order whatever the split or the core count, so equal inputs give identical bits on any machine — and no
/// per-thread partial buffers are needed.
/// </summary>
internal static class ColumnSplit
{
    /// <summary>About this many multiply-adds per task before a parallel launch pays (as the forward element-wise ops).</summary>
    private const long WorkPerTask = 16384;

    /// <summary>At least one cache line of columns per task, so two tasks never write the same line.</summary>
    private const long MinColumns = 16;

    /// <summary>Runs body(firstColumn, endColumn) over [0, width), each task covering every one of <paramref name="rows"/>.</summary>
    public static void For(int width, long rows, Action<int, int> body)
    {
        long minChunk = Math.Max(MinColumns, WorkPerTask / Math.Max(1, rows));
        CpuParallel.For(width, minChunk, (start, end) => body((int)start, (int)end));
    }
}
