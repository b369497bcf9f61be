using System.Diagnostics;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Tensors;

namespace MeZO.Verification.Measurement;

/// <summary>
/// A quick throughput report of the CPU linear layer on OPT-125m's shapes (hidden 768, MLP 3072, vocabulary 50272),
/// for `mezo bench`: GFLOP/s per shape, F32 and BF16 weights, each beside the FMA peak measured in the same moments —
/// every timed call alternates with a ~5 ms peak run — so the ratio holds on a machine that other work slows down
/// at times.
/// </summary>
public static class MatMulReport
{
    private const int Hidden = 768, Mlp = 3072, Vocabulary = 50272;

    /// <summary>One peak run: ~5 ms on a 4 GHz core with two 512-bit FMA pipes.</summary>
    private const long PeakIterations = 3_500_000;

    private static readonly (string Layer, int M, int N, int K)[] Shapes =
    [
        ("OPT-125m attention proj", 256, Hidden, Hidden),
        ("OPT-125m fc1", 256, Mlp, Hidden),
        ("OPT-125m fc2", 256, Hidden, Mlp),
        ("OPT-125m attention proj", 512, Hidden, Hidden),
        ("OPT-125m fc1", 512, Mlp, Hidden),
        ("OPT-125m fc2", 512, Hidden, Mlp),
        ("OPT-125m LM head", 16, Vocabulary, Hidden),
        ("OPT-125m fc1 decode", 1, Mlp, Hidden),
    ];

    /// <summary>
    /// Times every shape with F32 and BF16 weights: two warm-up calls, then <paramref name="repetitions"/> timed calls,
    /// each right after a peak run. Reported are the fastest call and the highest peak — interference from other
    /// processes only ever slows either down — and, as the fraction of peak, the median over the pairs of
    /// call-over-its-peak, which stays meaningful when interference comes and goes between the two bests.
    /// </summary>
    public static IReadOnlyList<MatMulMeasurement> Run(int repetitions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repetitions, 1);
        using var backend = new CpuBackend();
        var results = new List<MatMulMeasurement>();
        foreach (var (layer, m, n, k) in Shapes)
            foreach (var type in new[] { DType.F32, DType.BF16 })
                results.Add(Measure(backend, layer, m, n, k, type, repetitions));
        return results;
    }

    private static MatMulMeasurement Measure(CpuBackend backend, string layer, int m, int n, int k, DType type,
        int repetitions)
    {
        using var x = backend.Allocate(new TensorShape(m, k), DType.F32, MemoryCategory.Activations, "x");
        using var weight = backend.Allocate(new TensorShape(n, k), type, MemoryCategory.Weights, "weight");
        using var bias = backend.Allocate(new TensorShape(n), type, MemoryCategory.Weights, "bias");
        using var output = backend.Allocate(new TensorShape(m, n), DType.F32, MemoryCategory.Activations, "output");
        var random = new Random(m * 31 + n);
        Fill(x, random);
        Fill(weight, random);
        Fill(bias, random);

        for (int i = 0; i < 2; i++) backend.Linear(x, weight, weightTransposed: false, bias, output);
        double flops = 2.0 * m * n * k;
        double bestPeak = 0, bestSeconds = double.MaxValue;
        var fractions = new double[repetitions];
        for (int i = 0; i < repetitions; i++)
        {
            double peak = CpuPeak.Measure(PeakIterations).GigaflopsPerSecond;
            long start = Stopwatch.GetTimestamp();
            backend.Linear(x, weight, weightTransposed: false, bias, output);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            fractions[i] = flops / seconds / 1e9 / peak;
            bestPeak = Math.Max(bestPeak, peak);
            bestSeconds = Math.Min(bestSeconds, seconds);
        }
        Array.Sort(fractions);
        return new MatMulMeasurement(layer, m, n, k, type, WeightTransposed: false, bestSeconds * 1e3,
            flops / bestSeconds / 1e9, bestPeak, fractions[repetitions / 2]);
    }

    /// <summary>Values in [-1, 1) in the tensor's dtype: the timing does not depend on them, as long as none is NaN.</summary>
    private static void Fill(Tensor t, Random random)
    {
        var values = new float[t.ElementCount];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() * 2 - 1);
        CpuConvert.Store(values, t.Address, t.DType, 0);
    }
}
