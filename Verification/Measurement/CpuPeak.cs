using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using MeZO.Engine.Backends.Cpu;

namespace MeZO.Verification.Measurement;

/// <summary>Peak float32 multiply-add throughput of this machine, all cores at once.</summary>
/// <param name="GigaflopsPerSecond">all cores together; an FMA counts as two operations</param>
/// <param name="Cores">cores that ran the measurement</param>
public readonly record struct PeakThroughput(double GigaflopsPerSecond, int Cores);

/// <summary>
/// Measures the float32 FMA peak that the matrix product is judged against: every core runs twelve independent
/// chains of vector FMAs (enough to cover an FMA's latency on two pipes), with nothing to load or store. The widest
/// accelerated vector is used, as the product does.
/// </summary>
public static class CpuPeak
{
    private const int Chains = 12;

    /// <summary>Runs <paramref name="iterations"/> steps of the chains on every core; ~35 M steps take 50 ms on a
    /// 4 GHz AVX-512 core with two FMA pipes.</summary>
    public static PeakThroughput Measure(long iterations = 35_000_000)
    {
        int cores = CpuParallel.Workers;
        var options = new ParallelOptions { MaxDegreeOfParallelism = cores };
        var clock = Stopwatch.StartNew();
        Parallel.For(0, cores, options, _ =>
        {
            // The chains run in calls the JIT may not inline, so it cannot drop them as unused.
            if (Vector512.IsHardwareAccelerated) Chains512(iterations);
            else Chains256(iterations);
        });
        double seconds = clock.Elapsed.TotalSeconds;
        int lanes = Vector512.IsHardwareAccelerated ? 16 : 8;
        double flops = 2.0 * Chains * lanes * iterations * cores;
        return new PeakThroughput(flops / seconds / 1e9, cores);
    }

    /// <summary>x ← x·m + d converges to d/(1 − m), so the values stay finite and normal however long it runs.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains512(long iterations)
    {
        var m = Vector512.Create(0.999f);
        var d = Vector512.Create(0.001f);
        Vector512<float> x0 = d, x1 = d, x2 = d, x3 = d, x4 = d, x5 = d, x6 = d, x7 = d, x8 = d, x9 = d, x10 = d, x11 = d;
        for (long i = 0; i < iterations; i++)
        {
            x0 = Vector512.FusedMultiplyAdd(x0, m, d); x1 = Vector512.FusedMultiplyAdd(x1, m, d);
            x2 = Vector512.FusedMultiplyAdd(x2, m, d); x3 = Vector512.FusedMultiplyAdd(x3, m, d);
            x4 = Vector512.FusedMultiplyAdd(x4, m, d); x5 = Vector512.FusedMultiplyAdd(x5, m, d);
            x6 = Vector512.FusedMultiplyAdd(x6, m, d); x7 = Vector512.FusedMultiplyAdd(x7, m, d);
            x8 = Vector512.FusedMultiplyAdd(x8, m, d); x9 = Vector512.FusedMultiplyAdd(x9, m, d);
            x10 = Vector512.FusedMultiplyAdd(x10, m, d); x11 = Vector512.FusedMultiplyAdd(x11, m, d);
        }
        return Vector512.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains256(long iterations)
    {
        var m = Vector256.Create(0.999f);
        var d = Vector256.Create(0.001f);
        Vector256<float> x0 = d, x1 = d, x2 = d, x3 = d, x4 = d, x5 = d, x6 = d, x7 = d, x8 = d, x9 = d, x10 = d, x11 = d;
        for (long i = 0; i < iterations; i++)
        {
            x0 = Vector256.FusedMultiplyAdd(x0, m, d); x1 = Vector256.FusedMultiplyAdd(x1, m, d);
            x2 = Vector256.FusedMultiplyAdd(x2, m, d); x3 = Vector256.FusedMultiplyAdd(x3, m, d);
            x4 = Vector256.FusedMultiplyAdd(x4, m, d); x5 = Vector256.FusedMultiplyAdd(x5, m, d);
            x6 = Vector256.FusedMultiplyAdd(x6, m, d); x7 = Vector256.FusedMultiplyAdd(x7, m, d);
            x8 = Vector256.FusedMultiplyAdd(x8, m, d); x9 = Vector256.FusedMultiplyAdd(x9, m, d);
            x10 = Vector256.FusedMultiplyAdd(x10, m, d); x11 = Vector256.FusedMultiplyAdd(x11, m, d);
        }
        return Vector256.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11);
    }
}
