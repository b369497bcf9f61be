namespace MeZO.Engine.Backends.Cpu;

/// <summary>
/// Splits [0, count) into contiguous chunks over all cores. Chunks, not single items, so the scheduling cost is paid
/// a few times per op rather than once per row.
/// </summary>
internal static class CpuParallel
{
    public static int Workers => Environment.ProcessorCount;

    /// <summary>Runs body(start, end) over chunks covering [0, count); runs inline when the work is too small to split.</summary>
    public static void For(long count, long minChunk, Action<long, long> body)
    {
        if (count <= 0) return;
        int chunks = (int)Math.Min(Workers * 4L, Math.Max(1, count / Math.Max(1, minChunk)));
        if (chunks <= 1)
        {
            body(0, count);
            return;
        }
        long per = (count + chunks - 1) / chunks;
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = Workers }, c =>
        {
            long start = c * per;
            long end = Math.Min(count, start + per);
            if (start < end) body(start, end);
        });
    }
}
