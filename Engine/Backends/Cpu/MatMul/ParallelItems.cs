namespace MeZO.Engine.Backends.Cpu.MatMul;

/// <summary>
/// Runs numbered work items over all cores — one Parallel.For launch, items handed to whichever core is free — or
/// inline when the work is too small to be worth a launch. Callers pass a cached delegate, so a call allocates
/// nothing beyond Parallel.For's own bookkeeping.
/// </summary>
internal static class ParallelItems
{
    private static readonly ParallelOptions Options = new() { MaxDegreeOfParallelism = CpuParallel.Workers };

    public static void Run(int count, bool parallel, Action<int> item)
    {
        if (parallel && count > 1 && CpuParallel.Workers > 1)
        {
            Parallel.For(0, count, Options, item);
            return;
        }
        for (int i = 0; i < count; i++) item(i);
    }
}
