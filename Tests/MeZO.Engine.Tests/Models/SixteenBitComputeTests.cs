using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// The forward pass with 16-bit activations (Transformer.Load's compute dtype) on the CPU, whose rounding points are
/// the reference for the CUDA backend's 16-bit kernels: every architecture against the double-precision oracle, within
/// what rounding each op's output to 16 bits can do, and measurably unlike float32 compute (the option takes effect).
/// </summary>
[TestFixture]
public sealed class SixteenBitComputeTests
{
    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (var variant in TinyCheckpoints.AllVariants)
        {
            yield return new TestCaseData(variant, DType.BF16, DType.BF16);
            yield return new TestCaseData(variant, DType.F32, DType.F16);
        }
    }

    /// <summary>
    /// A first-order bound: each op output rounded to 16 bits is off by at most u·|value| (u = 2^-9 for bf16's 8
    /// significant bits, 2^-12 for f16's 11), and the roundings along the path to a logit add up with unit gain
    /// (normalised layers): an embedding, about a dozen per layer (norm, q, k, v, rope, attention, output, residual,
    /// norm, two or three MLP products, activation, residual), the final norm and the logits themselves.
    /// </summary>
    private static double Bound(DType compute, int layers, double scale) =>
        (compute == DType.BF16 ? 1.0 / 512 : 1.0 / 4096) * (4 + 12 * layers) * Math.Max(1.0, scale);

    [TestCaseSource(nameof(Cases))]
    public void LogitsStayWithinTheirRoundingOfTheOracle(TinyVariant variant, DType weights, DType compute)
    {
        using var checkpoint = TinyCheckpoints.Create(variant, new TinyCheckpointOptions { DType = weights });
        using var backend = new CpuBackend();
        using var sixteen = Transformer.Load(checkpoint.Folder, backend, compute: compute);
        using var float32 = Transformer.Load(checkpoint.Folder, backend);
        Assert.That(sixteen.Compute, Is.EqualTo(compute));
        Assert.That(float32.Compute, Is.EqualTo(DType.F32), "the CPU computes in float32 unless asked");
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 5, 3, 17, 1, 8), PaddingSide.Left);

        double[,,] expected = ParityRuns.OracleLogits(checkpoint.Oracle(), batch);
        int[] rows = ParityRuns.RealRows(batch);
        float[] actual = ParityRuns.EngineLogits(sixteen, batch, rows);
        float[] wide = ParityRuns.EngineLogits(float32, batch, rows);

        double scale = ParityRuns.LogitScale(expected, batch), bound = Bound(compute, sixteen.Spec.NumLayers, scale);
        int vocab = checkpoint.VocabSize;
        double worst = 0, worstWide = 0;
        for (int i = 0; i < rows.Length; i++)
            for (int v = 0; v < vocab; v++)
            {
                double want = expected[rows[i] / batch.Length, rows[i] % batch.Length, v];
                worst = Math.Max(worst, Math.Abs(actual[i * vocab + v] - want));
                worstWide = Math.Max(worstWide, Math.Abs(wide[i * vocab + v] - want));
            }
        TestContext.Out.WriteLine($"{checkpoint}: {compute} compute off the oracle by {worst:G3} (bound {bound:G3}), float32 by {worstWide:G3}");
        Assert.That(worst, Is.LessThanOrEqualTo(bound), $"{compute} compute");
        Assert.That(worst, Is.GreaterThan(ParityRuns.Tolerance(scale)), "16-bit activations must round: the logits equal float32 compute's");
    }

    [Test]
    public void BackpropRefusesSixteenBitCompute()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied, new TinyCheckpointOptions { DType = DType.BF16 });
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend, compute: DType.BF16);
        var error = Assert.Throws<InvalidInputException>(() => new Engine.Models.Gradients.ModelGradient(model, 1, 4))!;
        Assert.That(error.Message, Does.Contain("--compute"));
    }

    [Test]
    public void GreedyDecodingThroughASixteenBitCacheFollowsTheWholeSequence([Values(TinyVariant.LlamaUntied, TinyVariant.Gpt2)] TinyVariant variant)
    {
        // Each new token from the cached decode against the argmax of the same tokens run whole, without a cache. Keys and
        // values are rounded once either way; the calls group rows differently, so float32 reassociation may flip one
        // 16-bit rounding: a step whose best two logits are within a few bf16 ulps is a tie either may break.
        using var checkpoint = TinyCheckpoints.Create(variant, new TinyCheckpointOptions { DType = DType.BF16 });
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend, compute: DType.BF16);
        int[] prompt = ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 9, 5)[0];
        int[] generated = new Engine.Models.Generation.TokenGenerator(model).Generate([prompt], maxNewTokens: 6, endOfSequence: null)[0];
        Assert.That(generated, Has.Length.EqualTo(6));

        int checkedSteps = 0;
        for (int step = 0; step < generated.Length; step++)
        {
            int[] sequence = [.. prompt, .. generated[..step]];
            var whole = TokenBatch.Pack([sequence], PaddingSide.Left);
            float[] logits = ParityRuns.EngineLogits(model, whole, [whole.Row(0, sequence.Length - 1)]);
            var ranked = logits.Select((value, id) => (value, id)).OrderByDescending(p => p.value).ThenBy(p => p.id).ToArray();
            double tie = 4.0 / 256 * Math.Max(1.0, Math.Abs(ranked[0].value));
            if (ranked[0].value - ranked[1].value <= tie) continue;
            Assert.That(generated[step], Is.EqualTo(ranked[0].id), $"step {step}");
            checkedSteps++;
        }
        Assert.That(checkedSteps, Is.GreaterThanOrEqualTo(3), "too many near-ties to show anything: choose another prompt");
    }
}
