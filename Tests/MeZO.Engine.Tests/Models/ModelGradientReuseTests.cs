using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Gradients;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// What training asks of <see cref="ModelGradient"/> beyond one gradient (which <see cref="ModelGradientTests"/> checks
/// against the oracle): recomputing layers gives the same bits as keeping them, frozen parameters leave the others'
/// gradients unchanged, micro-batches add up to the gradient of their sum, and one object serves calls of any size up to its own.
/// </summary>
[TestFixture]
public sealed class ModelGradientReuseTests
{
    [Test]
    public void RecomputingLayersGivesTheKeptActivationsGradientBitForBit([ValueSource(typeof(TinyCheckpoints), nameof(TinyCheckpoints.AllVariants))] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 43, [5, 9, 2]), PaddingSide.Left);
        var (rows, targets, weights) = Pairs(batch);

        using var kept = new ModelGradient(model, batch.BatchSize, batch.Length);
        using var recomputed = new ModelGradient(model, batch.BatchSize, batch.Length, recomputeLayers: true);
        float[] keptLogProbs = kept.Forward(batch, rows, targets);
        kept.Backward(weights);
        float[] recomputedLogProbs = recomputed.Forward(batch, rows, targets);
        recomputed.Backward(weights);

        Assert.That(recomputedLogProbs, Is.EqualTo(keptLogProbs));
        foreach (var g in kept.Gradients)
            Assert.That(Values(recomputed.GradientOf(Parameter(model, g.Name))!), Is.EqualTo(Values(g.Tensor)), g.Name);
        Assert.That(recomputed.Bytes, Is.LessThan(kept.Bytes), "recomputation keeps one layer's activations, not all of them");
    }

    [Test]
    public void FrozenParametersGetNoGradientAndLeaveTheOthersAsTheyWere([Values(TinyVariant.Gpt2, TinyVariant.LlamaTied, TinyVariant.OptPostLayerNorm)] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 47, [6, 4]), PaddingSide.Right);
        var (rows, targets, weights) = Pairs(batch);
        // Every other parameter trains: frozen norms, embeddings and projections sit between trained ones.
        var trainable = model.Weights.Parameters.Where((_, i) => i % 2 == 1).Select(p => p.Tensor).ToArray();

        using var all = new ModelGradient(model, batch.BatchSize, batch.Length);
        using var some = new ModelGradient(model, batch.BatchSize, batch.Length, trainable: trainable);
        all.Forward(batch, rows, targets);
        all.Backward(weights);
        some.Forward(batch, rows, targets);
        some.Backward(weights);

        Assert.That(some.Gradients.Count, Is.EqualTo(trainable.Length));
        foreach (var p in model.Weights.Parameters)
        {
            var g = some.GradientOf(p.Tensor);
            if (!trainable.Contains(p.Tensor)) Assert.That(g, Is.Null, p.Name);
            else Assert.That(Values(g!), Is.EqualTo(Values(all.GradientOf(p.Tensor)!)), p.Name);
        }
    }

    /// <summary>
    /// Two micro-batches, the second smaller than the first, through one object: the sum of their gradients must be the
    /// gradient of the summed objective, which the oracle checks on one batch holding all four sequences (they do not
    /// see each other, so its objective is the sum of the two).
    /// </summary>
    [Test]
    public void MicroBatchesAddUpToTheGradientOfTheirSum([Values(TinyVariant.Qwen2, TinyVariant.Gpt2)] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var sequences = ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 53, [7, 5, 6, 3]);
        var first = TokenBatch.Pack(sequences[..3], PaddingSide.Right);
        var second = TokenBatch.Pack(sequences[3..], PaddingSide.Right);

        using var pass = new ModelGradient(model, first.BatchSize, first.Length);
        foreach (var batch in new[] { first, second })
        {
            var (rows, targets, weights) = Pairs(batch);
            pass.Forward(batch, rows, targets);
            pass.Backward(weights);
        }

        var whole = TokenBatch.Pack(sequences, PaddingSide.Right);
        var (wholeRows, wholeTargets, _) = Pairs(whole);
        // Each micro-batch's pairs keep their own weight (−1/its count), as a mean per micro-batch would.
        int firstPairs = Pairs(first).Rows.Length, secondPairs = wholeRows.Length - firstPairs;
        float[] wholeWeights = [.. Enumerable.Repeat(-1f / firstPairs, firstPairs), .. Enumerable.Repeat(-1f / secondPairs, secondPairs)];
        var rng = new Random(61);
        var d = checkpoint.Weights.ToDictionary(p => p.Key, p => GradientOracle.Normal(rng, p.Value.Values.Length));
        GradientOracle.AssertDirectionalDerivative(checkpoint, name => Values(pass.GradientOf(Parameter(model, name))!), d, whole, wholeRows,
            wholeTargets, $"{checkpoint} in two micro-batches", wholeWeights);
    }

    /// <summary>
    /// A training run's evaluation workspace serves the backward's forward pass: the same bits as a workspace of the
    /// object's own, and the workspace's own observer sees nothing of it.
    /// </summary>
    [Test]
    public void ASharedWorkspaceGivesTheSameGradientAndKeepsItsObserver([Values] bool recompute)
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Qwen2);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 67, [6, 3]), PaddingSide.Right);
        var (rows, targets, weights) = Pairs(batch);
        using var shared = model.CreateWorkspace(batch.BatchSize + 1, batch.Length + 2);
        var observer = new ActivationRecorder();
        shared.Observer = observer;

        using var own = new ModelGradient(model, batch.BatchSize, batch.Length, recompute);
        using var sharing = new ModelGradient(model, batch.BatchSize, batch.Length, recompute, workspace: shared);
        foreach (var pass in new[] { own, sharing })
        {
            pass.Forward(batch, rows, targets);
            pass.Backward(weights);
        }

        foreach (var g in own.Gradients)
            Assert.That(Values(sharing.GradientOf(Parameter(model, g.Name))!), Is.EqualTo(Values(g.Tensor)), g.Name);
        Assert.That(observer.Recorded, Is.Empty, "the tape watched the shared workspace only during its own calls");
        Assert.That(shared.Observer, Is.SameAs(observer));
        Assert.That(sharing.Bytes, Is.EqualTo(own.Bytes - ForwardWorkspace.EstimateBytes(model.Spec, batch.BatchSize, batch.Length)));
    }

    /// <summary>
    /// `mezo inspect` and the memory check before a first-order run estimate from <see cref="ModelGradient.EstimateWorkingBytes"/>:
    /// it must be what an object of those sizes allocates, whatever the architecture, recomputation and workspace.
    /// </summary>
    [Test]
    public void TheEstimateIsWhatTheObjectAllocates([ValueSource(typeof(TinyCheckpoints), nameof(TinyCheckpoints.AllVariants))] TinyVariant variant,
        [Values] bool recompute, [Values] bool sharedWorkspace)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 71, [5, 7, 2]), PaddingSide.Left);
        var (rows, targets, weights) = Pairs(batch);
        using var workspace = sharedWorkspace ? model.CreateWorkspace(batch.BatchSize, batch.Length) : null;
        using var pass = new ModelGradient(model, batch.BatchSize, batch.Length, recompute, workspace: workspace);
        pass.Forward(batch, rows, targets);
        pass.Backward(weights);

        long gradients = pass.Gradients.Sum(g => g.Tensor.ByteCount);
        long estimate = ModelGradient.EstimateWorkingBytes(model.Spec, batch.BatchSize, batch.Length, recompute, rows.Length, sharedWorkspace: sharedWorkspace);
        Assert.That(estimate + gradients, Is.EqualTo(pass.Bytes));
    }

    [Test]
    public void BackwardWithoutAForwardCallIsRefused()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var pass = new ModelGradient(model, 1, 4);
        Assert.Throws<InvalidOperationException>(() => pass.Backward([-1f]));
        var batch = TokenBatch.Pack([[1, 2, 3]], PaddingSide.Right);
        pass.Forward(batch, [0, 1], [2, 3]);
        pass.Backward([-1f, -1f]);
        Assert.Throws<InvalidOperationException>(() => pass.Backward([-1f, -1f]), "a forward call is differentiated once");
    }

    private static (int[] Rows, int[] Targets, float[] Weights) Pairs(TokenBatch batch)
    {
        var rows = new List<int>();
        var targets = new List<int>();
        for (int b = 0; b < batch.BatchSize; b++)
            for (int i = 0; i + 1 < batch.Lengths[b]; i++)
            {
                rows.Add(batch.Row(b, i));
                targets.Add(batch.Ids[batch.Row(b, i + 1)]);
            }
        return (rows.ToArray(), targets.ToArray(), Enumerable.Repeat(-1f / rows.Count, rows.Count).ToArray());
    }

    private static MeZO.Engine.Tensors.Tensor Parameter(Transformer model, string name) =>
        model.Weights.Parameters.Single(p => p.Name == name).Tensor;

    private static float[] Values(MeZO.Engine.Tensors.Tensor t)
    {
        var values = new float[t.ElementCount];
        t.Backend.Download<float>(t, values);
        return values;
    }
}
