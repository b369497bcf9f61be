using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Gradients;
using MeZO.Engine.Tensors;
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
        double loss = GradientOracle.Loss(checkpoint, checkpoint.Weights, batch, rows, targets);
        Assert.That(gradients.Objective, Is.EqualTo(loss).Within(ParityRuns.Tolerance(Math.Abs(loss))), "objective");

        var rng = new Random((int)variant * 10 + (int)side);
        for (int direction = 0; direction < 3; direction++)
        {
            var d = checkpoint.Weights.ToDictionary(p => p.Key, p => GradientOracle.Normal(rng, p.Value.Values.Length));
            GradientOracle.AssertDirectionalDerivative(checkpoint, gradients.Download, d, batch, rows, targets, $"{checkpoint} {side} direction {direction}");
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
        var d = checkpoint.Weights.ToDictionary(p => p.Key, p => p.Key == embedding ? GradientOracle.Normal(rng, p.Value.Values.Length) : new double[p.Value.Values.Length]);
        GradientOracle.AssertDirectionalDerivative(checkpoint, gradients.Download, d, batch, rows, targets, $"{checkpoint} along {embedding}");
    }

    /// <summary>
    /// 16-bit weights are read as float32 by the forward and the backward alike, and their gradients are float32: the
    /// oracle reads the same rounded values, so the check and its tolerance are the float32 one.
    /// </summary>
    [Test]
    public void SixteenBitWeightsGetFloat32GradientsThatMatchTheOracle([Values(TinyVariant.Gpt2, TinyVariant.Qwen2)] TinyVariant variant,
        [Values(DType.F16, DType.BF16)] DType dtype)
    {
        using var checkpoint = TinyCheckpoints.Create(variant, new TinyCheckpointOptions { DType = dtype });
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 29, Lengths), PaddingSide.Left);
        var (rows, targets) = NextTokenPairs(batch);
        using var gradients = ModelGradient.Compute(model, batch, rows, targets, Enumerable.Repeat(-1f, rows.Length).ToArray());

        Assert.That(gradients.Gradients.Select(g => g.Tensor.DType).Distinct(), Is.EqualTo(new[] { DType.F32 }));
        var rng = new Random(31);
        var d = checkpoint.Weights.ToDictionary(p => p.Key, p => GradientOracle.Normal(rng, p.Value.Values.Length));
        GradientOracle.AssertDirectionalDerivative(checkpoint, gradients.Download, d, batch, rows, targets, checkpoint.ToString()!);
    }

    /// <summary>
    /// Pairs with weights other than −1, one row scored twice against different targets (a candidate-scoring loss): the
    /// row's hidden state gets the sum of both pairs' gradients.
    /// </summary>
    [Test]
    public void WeightedPairsOnARepeatedRowMatchTheOracle([Values(TinyVariant.LlamaUntied, TinyVariant.OptPostLayerNorm)] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 37, Lengths), PaddingSide.Right);
        int last = batch.Row(0, batch.Lengths[0] - 1);
        int[] rows = [last, batch.Row(1, 1), last, batch.Row(2, 0)];
        int[] targets = [3, 7, 11, 2];
        float[] pairWeights = [-0.5f, 2f, 1.25f, -1f];
        using var gradients = ModelGradient.Compute(model, batch, rows, targets, pairWeights);

        double objective = GradientOracle.Loss(checkpoint, checkpoint.Weights, batch, rows, targets, pairWeights);
        Assert.That(gradients.Objective, Is.EqualTo(objective).Within(ParityRuns.Tolerance(Math.Abs(objective))), "objective");
        var rng = new Random(41);
        var d = checkpoint.Weights.ToDictionary(p => p.Key, p => GradientOracle.Normal(rng, p.Value.Values.Length));
        GradientOracle.AssertDirectionalDerivative(checkpoint, gradients.Download, d, batch, rows, targets, checkpoint.ToString()!, pairWeights);
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

    /// <summary>Every real token after the first, scored given the ones before it: what `mezo score` sums.</summary>
    internal static (int[] Rows, int[] Targets) NextTokenPairs(TokenBatch batch)
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
}
