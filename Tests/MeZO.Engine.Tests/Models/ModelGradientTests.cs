using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Gradients;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// <see cref="ModelGradient"/> against the independent double-precision oracle (<see cref="NaiveTransformer"/>): along
/// random directions d over every parameter, the engine's ∇L·d must equal the oracle's central difference
/// (L(θ + h·d) − L(θ − h·d))/2h, where L is the summed log-likelihood of each real token given the ones before it (the
/// pair weight is −1, so L is the summed NLL), on a padded batch of every tiny architecture.
/// </summary>
[TestFixture]
public sealed class ModelGradientTests
{
    /// <summary>
    /// Step along d (elements ~N(0, 1), so each weight moves by about h). The double rounding of the difference is
    /// 2⁻⁵³·|L|/h ≈ 1e-9 for |L| ≈ 100. L changes along d on a scale of about 1/‖d‖ ≈ 1e-2 (P ≈ 10⁴ parameters), so
    /// the truncation error is about (h·‖d‖)² ≈ 1e-6 of the derivative: both far below the tolerance below.
    /// </summary>
    private const double Step = 1e-5;

    /// <summary>
    /// The tolerance relative to Σ|gᵢ·dᵢ|, the size of the terms whose sum ∇L·d is: 16 float32 ulps (2⁻²⁴ each) of it,
    /// as if every element's gradient were 16 ulps off in the same direction. The element errors are in fact spread and
    /// of both signs: the largest measured on these batches is 4.2e-8 of Σ|gᵢdᵢ| (0.7 ulp, 7.6e-6 of ∇L·d itself), a
    /// margin of 20×; the oracle's own error (see <see cref="Step"/>) is below 1e-9 of it. Random directions cancel to
    /// |∇L·d| ≈ Σ|gᵢdᵢ|/√P, so the check is about 1e-4 of the derivative, and dropping any op's contribution (tried:
    /// the tied head's use, one RoPE backward) misses by 1 % to 100 %.
    /// </summary>
    private const double RelativeTolerance = 16.0 / (1 << 24);

    private static readonly int[] Lengths = [7, 3, 6];

    [Test]
    public void DirectionalDerivativesMatchTheOraclesFiniteDifferences([ValueSource(typeof(TinyCheckpoints), nameof(TinyCheckpoints.AllVariants))] TinyVariant variant,
        [Values] PaddingSide side)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 17, Lengths), side);
        var (rows, targets) = NextTokenPairs(batch);
        using var gradients = ModelGradient.Compute(model, batch, rows, targets, Enumerable.Repeat(-1f, rows.Length).ToArray());

        Assert.That(gradients.Gradients.Select(g => g.Name), Is.EquivalentTo(checkpoint.Weights.Keys), "one gradient per stored parameter");
        // The objective must be the oracle's: the forward pass that kept its activations is the model's forward pass.
        double loss = Loss(checkpoint, checkpoint.Weights, batch, rows, targets);
        Assert.That(gradients.Objective, Is.EqualTo(loss).Within(ParityRuns.Tolerance(Math.Abs(loss))), "objective");

        var rng = new Random((int)variant * 10 + (int)side);
        for (int direction = 0; direction < 3; direction++)
        {
            var d = checkpoint.Weights.ToDictionary(p => p.Key, p => Normal(rng, p.Value.Values.Length));
            AssertDirectionalDerivative(checkpoint, gradients, d, batch, rows, targets, $"{checkpoint} {side} direction {direction}");
        }
    }

    [Test]
    public void ATiedHeadsGradientIsTheSumOfItsTwoUses([Values(TinyVariant.OptPreLayerNorm, TinyVariant.LlamaTied, TinyVariant.Gpt2)] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        Assert.That(model.Spec.TiedLmHead, Is.True, "the variant ties its head");
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 23, Lengths), PaddingSide.Right);
        var (rows, targets) = NextTokenPairs(batch);
        using var gradients = ModelGradient.Compute(model, batch, rows, targets, Enumerable.Repeat(-1f, rows.Length).ToArray());

        // Moving only the embedding moves the head with it: the oracle's difference sees both uses, so a gradient with
        // either use missing (the head's or the lookup's) fails here.
        string embedding = model.Weights.Parameters.Single(p => ReferenceEquals(p.Tensor, model.Weights.TokenEmbedding)).Name;
        Assert.That(gradients.Gradients.Select(g => g.Name), Does.Not.Contain(model.Spec.Names.LmHead + ".weight"), "no separate head gradient");
        var rng = new Random(5);
        var d = checkpoint.Weights.ToDictionary(p => p.Key, p => p.Key == embedding ? Normal(rng, p.Value.Values.Length) : new double[p.Value.Values.Length]);
        AssertDirectionalDerivative(checkpoint, gradients, d, batch, rows, targets, $"{checkpoint} along {embedding}");
    }

    [Test]
    public void GradientsRefuseAnAttachedAdapter()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var prefix = MeZO.Engine.Adapters.PrefixAdapter.Create(model.Spec, backend, tokens: 2);
        model.Prefix = prefix;
        var batch = TokenBatch.Pack([[1, 2, 3]], PaddingSide.Right);
        var error = Assert.Throws<NotSupportedException>(() => ModelGradient.Compute(model, batch, [0], [2], [-1f]));
        Assert.That(error!.Message, Does.Contain("adapter"));
    }

    /// <summary>
    /// The reference tensors hold float32, so θ ± h·d are rounded to float32 before the oracle reads them. The test then
    /// differentiates along the direction actually taken, d′ = (θ₊ − θ₋)/2h (exact in double): the central difference
    /// of the two rounded points approximates ∇L·d′ to second order, and the rounding (≈ 2⁻²⁴·|θ|/h ≈ 3e-3 of each step)
    /// never enters the comparison.
    /// </summary>
    private static void AssertDirectionalDerivative(TinyCheckpoint checkpoint, ParameterGradients gradients, Dictionary<string, double[]> d,
        TokenBatch batch, int[] rows, int[] targets, string label)
    {
        var plusWeights = Moved(checkpoint, d, Step);
        var minusWeights = Moved(checkpoint, d, -Step);
        double dot = 0, scale = 0;
        foreach (string name in d.Keys)
        {
            float[] g = gradients.Download(name), up = plusWeights[name].Values, down = minusWeights[name].Values;
            for (int i = 0; i < g.Length; i++)
            {
                double taken = ((double)up[i] - down[i]) / (2 * Step);
                dot += g[i] * taken;
                scale += Math.Abs(g[i] * taken);
            }
        }
        double expected = (Loss(checkpoint, plusWeights, batch, rows, targets) - Loss(checkpoint, minusWeights, batch, rows, targets)) / (2 * Step);
        Assert.That(scale, Is.GreaterThan(0), $"{label}: the gradient along d is not all zero");
        Assert.That(dot, Is.EqualTo(expected).Within(RelativeTolerance * scale), $"{label}: ∇L·d vs the oracle's central difference (Σ|g·d| = {scale:E3})");
    }

    /// <summary>Every real token after the first, scored given the ones before it: what `mezo score` sums.</summary>
    private static (int[] Rows, int[] Targets) NextTokenPairs(TokenBatch batch)
    {
        var rows = new List<int>();
        var targets = new List<int>();
        for (int b = 0; b < batch.BatchSize; b++)
            for (int i = 0; i + 1 < batch.Lengths[b]; i++)
            {
                rows.Add(batch.Row(b, i));
                targets.Add(batch.Ids[batch.Row(b, i + 1)]);
            }
        return (rows.ToArray(), targets.ToArray());
    }

    /// <summary>The oracle's Σ −1·log p(target | row), in double.</summary>
    private static double Loss(TinyCheckpoint checkpoint, IReadOnlyDictionary<string, ReferenceTensor> weights, TokenBatch batch, int[] rows,
        int[] targets)
    {
        double[,,] logits = ParityRuns.OracleLogits(new NaiveTransformer(checkpoint.Config, weights), batch);
        double sum = 0;
        for (int s = 0; s < rows.Length; s++)
            sum -= NaiveTransformer.LogSoftmax(logits, rows[s] / batch.Length, rows[s] % batch.Length)[targets[s]];
        return sum;
    }

    /// <summary>θ + h·d, made in double and rounded once to the float32 the reference tensors hold.</summary>
    private static Dictionary<string, ReferenceTensor> Moved(TinyCheckpoint checkpoint, Dictionary<string, double[]> d, double h) =>
        checkpoint.Weights.ToDictionary(p => p.Key, p => new ReferenceTensor(p.Value.Shape,
            p.Value.Values.Select((v, i) => (float)(v + h * d[p.Key][i])).ToArray()));

    private static double[] Normal(Random rng, int count) =>
        Enumerable.Range(0, count).Select(_ => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble())).ToArray();
}
