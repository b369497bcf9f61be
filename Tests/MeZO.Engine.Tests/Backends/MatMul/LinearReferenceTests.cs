using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cpu.MatMul;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.MatMul;

/// <summary>
/// The CPU linear layer against a naive double-precision triple loop: odd sizes, sizes around every block boundary,
/// both weight layouts, every weight dtype, with and without bias, on both code paths (AVX-512 and portable).
/// </summary>
[TestFixture]
public sealed class LinearReferenceTests
{
    private static readonly int[] OddSizes = [1, 3, 17, 129, 256, 300];
    private static readonly DType[] WeightTypes = [DType.F32, DType.F16, DType.BF16];

    private CpuBackend _backend = null!;

    [OneTimeSetUp]
    public void CreateBackend() => _backend = new CpuBackend();

    [OneTimeTearDown]
    public void DisposeBackend() => _backend.Dispose();

    /// <summary>
    /// Every (M, N, K) from the odd sizes, bias on every other shape. Small shapes run every dtype; the big ones
    /// (over 4 M multiply-adds, ~0.1 s each in a Debug build) one dtype each, in turn — the dtype only changes how
    /// panels are packed, which the small shapes already cover on every path.
    /// </summary>
    public static IEnumerable<TestCaseData> OddShapes()
    {
        int index = 0;
        foreach (int m in OddSizes)
            foreach (int n in OddSizes)
                foreach (int k in OddSizes)
                {
                    bool bias = index % 2 == 0;
                    var types = (long)m * n * k > 1 << 22 ? [WeightTypes[index % WeightTypes.Length]] : WeightTypes;
                    foreach (var type in types)
                        yield return new TestCaseData(m, n, k, type, bias).SetName($"Odd M={m} N={n} K={k} {type} bias={bias}");
                    index++;
                }
    }

    /// <summary>Sizes at and beside the block sizes and vector widths: a tile's rows (Mr) and columns (Nr), a k
    /// block (Kc), a work item's rows (Mc), the 16-wide transposes, the streaming path's limit and tiles.</summary>
    public static IEnumerable<TestCaseData> BlockEdges()
    {
        const int mr = GemmBlocking.Mr, nr = GemmBlocking.Nr, kc = GemmBlocking.Kc, mc = GemmBlocking.Mc;
        int[][] shapes =
        [
            [mr - 1, nr - 1, kc - 1], [mr, nr, kc], [mr + 1, nr + 1, kc + 1],
            [2 * mr + 1, 2 * nr - 1, 2 * kc + 1], [mc - 1, nr + 1, 15], [mc, 3 * nr, 16], [mc + 1, 2 * nr + 3, kc + 16],
            [2 * mc + 5, 65, 33],
            [GemmBlocking.StreamingMaxRows, 83, 33], [GemmBlocking.StreamingMaxRows + 1, 83, 33], [2, 131, 130], [1, 64, 16],
            [3, 5, kc + 17], [4, 4 * 64 + 16 + 3, 47],
        ];
        foreach (var s in shapes)
            foreach (var type in WeightTypes)
                foreach (bool bias in new[] { false, true })
                    yield return new TestCaseData(s[0], s[1], s[2], type, bias)
                        .SetName($"Edge M={s[0]} N={s[1]} K={s[2]} {type} bias={bias}");
    }

    [TestCaseSource(nameof(OddShapes))]
    [TestCaseSource(nameof(BlockEdges))]
    public void MatchesDoubleReference(int m, int n, int k, DType weightType, bool withBias)
    {
        using var problem = new LinearProblem(_backend, [m, k], n, weightType, withBias, seed: HashCode.Combine(m, n, k));
        foreach (var simd in AvailablePaths())
            foreach (bool transposed in new[] { false, true })
                problem.AssertMatchesReference(problem.Run(transposed, simd), $"{simd} transposed={transposed}");
    }

    /// <summary>Every tile height the packed kernels have (the dispatcher sends 1 to 4 rows elsewhere).</summary>
    [Test]
    public void PackedProductHandlesEveryTileHeight([Range(1, GemmBlocking.Mr)] int m)
    {
        using var problem = new LinearProblem(_backend, [m, 70], 45, DType.F16, withBias: true, seed: m);
        foreach (var simd in AvailablePaths())
            foreach (bool transposed in new[] { false, true })
                problem.AssertMatchesReference(problem.RunPacked(transposed, simd), $"packed {simd} transposed={transposed}");
    }

    [Test]
    public void LargeDepthStaysWithinTolerance([Values(2, 37)] int m, [Values(DType.F32, DType.BF16)] DType weightType)
    {
        using var problem = new LinearProblem(_backend, [m, 4096], 70, weightType, withBias: true, seed: 4096);
        foreach (var simd in AvailablePaths())
            foreach (bool transposed in new[] { false, true })
                problem.AssertMatchesReference(problem.Run(transposed, simd), $"{simd} transposed={transposed}");
    }

    [Test]
    public void RankThreeActivationsThroughTheBackend([Values(false, true)] bool transposed)
    {
        using var problem = new LinearProblem(_backend, [2, 9, 40], 48, DType.BF16, withBias: true, seed: 3);
        _backend.Linear(problem.X, transposed ? problem.WeightColumns : problem.WeightRows, transposed, problem.Bias,
            problem.Output);
        Assert.That(problem.Output.Shape, Is.EqualTo(new TensorShape(2, 9, 48)));
        problem.AssertMatchesReference(problem.Download(), $"backend transposed={transposed}");
    }

    [Test]
    public void EmptyDepthGivesTheBias()
    {
        using var problem = new LinearProblem(_backend, [3, 0], 5, DType.F16, withBias: true, seed: 0);
        problem.AssertMatchesReference(problem.Run(transposed: false, SimdLevels.Best), "K=0");
    }

    [Test]
    public void EmptyDepthThroughTheBackendGivesTheBias([Values(false, true)] bool transposed)
    {
        // x (3, 0) has three rows of no features: the backend must accept a (3, 5) output and fill it with the bias.
        using var problem = new LinearProblem(_backend, [3, 0], 5, DType.F16, withBias: true, seed: 0);
        _backend.Upload<float>(problem.Output, Enumerable.Repeat(float.NaN, 3 * 5).ToArray());
        _backend.Linear(problem.X, transposed ? problem.WeightColumns : problem.WeightRows, transposed, problem.Bias,
            problem.Output);
        problem.AssertMatchesReference(problem.Download(), $"backend K=0 transposed={transposed}");
    }

    private static IEnumerable<SimdLevel> AvailablePaths()
    {
        yield return SimdLevel.Portable;
        if (Avx512F.IsSupported && Vector512.IsHardwareAccelerated) yield return SimdLevel.Avx512;
    }
}
