using MeZO.Engine.Adapters;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Gradients;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// <see cref="ModelGradient"/> through a prefix (prefix tuning's backprop, the base frozen) against the double-precision
/// oracle given the prefix as transformers' past_key_values (<see cref="NaiveTransformer.Past"/>): along random
/// directions d over prompt_embeddings, ∇L·d must equal the oracle's central difference. The prefix is random, so
/// every layer's keys and values of every slot carry a gradient of their own, on padded batches of every architecture
/// (GQA and multi-query keys, rotary and learned positions, a window that cuts into the prefix).
/// </summary>
[TestFixture]
public sealed class PrefixGradientTests
{
    private const int Tokens = 3;
    private static readonly int[] Lengths = [6, 2, 5];

    [Test]
    public void PrefixGradientsMatchTheOraclesFiniteDifferences([ValueSource(typeof(TinyCheckpoints), nameof(TinyCheckpoints.AllVariants))] TinyVariant variant,
        [Values] PaddingSide side)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var prefix = PrefixAdapter.Create(model.Spec, backend, Tokens);
        var values = GradientOracle.Normal(new Random(9), (int)prefix.ElementCount).Select(v => (float)v).ToArray();
        prefix.Upload(values);
        model.Prefix = prefix;
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 17, Lengths), side);
        var (rows, targets) = ModelGradientTests.NextTokenPairs(batch);
        using var gradients = ModelGradient.Compute(model, batch, rows, targets, Enumerable.Repeat(-1f, rows.Length).ToArray());

        Assert.That(gradients.Gradients.Select(g => g.Name), Is.EqualTo(new[] { PrefixAdapter.ParameterName }), "the prefix, and no base weight");
        var parameters = new Dictionary<string, ReferenceTensor>
        {
            [PrefixAdapter.ParameterName] = new([prefix.Tokens, (int)(prefix.ElementCount / prefix.Tokens)], values),
        };
        double Loss(IReadOnlyDictionary<string, ReferenceTensor> tensors)
        {
            var oracle = checkpoint.Oracle();
            oracle.Past = Past(prefix, tensors[PrefixAdapter.ParameterName]);
            return GradientOracle.Loss(oracle, batch, rows, targets);
        }
        Assert.That(gradients.Objective, Is.EqualTo(Loss(parameters)).Within(ParityRuns.Tolerance(Math.Abs(gradients.Objective))), "objective");

        var rng = new Random((int)variant * 10 + (int)side);
        for (int direction = 0; direction < 2; direction++)
        {
            var d = parameters.ToDictionary(p => p.Key, p => GradientOracle.Normal(rng, p.Value.Values.Length));
            GradientOracle.AssertDirectionalDerivative(parameters, gradients.Download, d, Loss, $"{checkpoint} {side} direction {direction}");
        }
    }

    [Test]
    public void RecomputingLayersGivesTheKeptActivationsPrefixGradientBitForBit([Values(TinyVariant.Gpt2, TinyVariant.LlamaTied, TinyVariant.OptPostLayerNorm)] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var prefix = PrefixAdapter.FromActivations(model, [4, 9, 1]);
        model.Prefix = prefix;
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 43, [5, 9, 2]), PaddingSide.Left);
        var (rows, targets) = ModelGradientTests.NextTokenPairs(batch);
        float[] weights = Enumerable.Repeat(-1f / rows.Length, rows.Length).ToArray();

        using var kept = new ModelGradient(model, batch.BatchSize, batch.Length);
        using var recomputed = new ModelGradient(model, batch.BatchSize, batch.Length, recomputeLayers: true);
        foreach (var pass in new[] { kept, recomputed })
        {
            pass.Forward(batch, rows, targets);
            pass.Backward(weights);
        }
        Assert.That(LoraGradientTests.Values(recomputed.GradientOf(prefix.Embeddings)!), Is.EqualTo(LoraGradientTests.Values(kept.GradientOf(prefix.Embeddings)!)));
        foreach (var (pass, recompute) in new[] { (kept, false), (recomputed, true) })
            Assert.That(pass.Bytes - pass.Gradients.Sum(g => g.Tensor.ByteCount), Is.EqualTo(
                ModelGradient.EstimateWorkingBytes(model.Spec, batch.BatchSize, batch.Length, recompute, rows.Length, model.Adapters)),
                $"the estimate is what the gradient holds (recompute {recompute})");
    }

    /// <summary>
    /// Two micro-batches through one object add up: each layer's prefix columns accumulate (+=) rather than being
    /// written, so the sum equals the gradient of the two batches' summed objective, checked by the oracle on one batch.
    /// </summary>
    [Test]
    public void MicroBatchesAddUpToThePrefixGradientOfTheirSum()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Qwen2);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var prefix = PrefixAdapter.Create(model.Spec, backend, Tokens);
        var values = GradientOracle.Normal(new Random(21), (int)prefix.ElementCount).Select(v => (float)v).ToArray();
        prefix.Upload(values);
        model.Prefix = prefix;
        var sequences = ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 53, [7, 5, 6, 3]);
        var first = TokenBatch.Pack(sequences[..3], PaddingSide.Right);
        var second = TokenBatch.Pack(sequences[3..], PaddingSide.Right);
        using var pass = new ModelGradient(model, first.BatchSize, first.Length);
        foreach (var batch in new[] { first, second })
        {
            var (rows, targets) = ModelGradientTests.NextTokenPairs(batch);
            pass.Forward(batch, rows, targets);
            pass.Backward(Enumerable.Repeat(-1f, rows.Length).ToArray());
        }

        var whole = TokenBatch.Pack(sequences, PaddingSide.Right);
        var (wholeRows, wholeTargets) = ModelGradientTests.NextTokenPairs(whole);
        var parameters = new Dictionary<string, ReferenceTensor>
        {
            [PrefixAdapter.ParameterName] = new([prefix.Tokens, (int)(prefix.ElementCount / prefix.Tokens)], values),
        };
        var d = parameters.ToDictionary(p => p.Key, p => GradientOracle.Normal(new Random(61), p.Value.Values.Length));
        GradientOracle.AssertDirectionalDerivative(parameters, _ => LoraGradientTests.Values(pass.GradientOf(prefix.Embeddings)!), d, tensors =>
        {
            var oracle = checkpoint.Oracle();
            oracle.Past = Past(prefix, tensors[PrefixAdapter.ParameterName]);
            return GradientOracle.Loss(oracle, whole, wholeRows, wholeTargets);
        }, "two micro-batches");
    }

    /// <summary>Each layer's keys and values of the P slots, cut from prompt_embeddings (P, L·2·W) as PEFT's get_prompt lays them out.</summary>
    private static (double[][] Keys, double[][] Values)[] Past(PrefixAdapter prefix, ReferenceTensor embeddings)
    {
        int w = prefix.KvWidth, columns = embeddings.Shape[1];
        double[][] Slots(int start) => Enumerable.Range(0, prefix.Tokens)
            .Select(p => Enumerable.Range(0, w).Select(c => (double)embeddings.Values[p * columns + start + c]).ToArray()).ToArray();
        return Enumerable.Range(0, prefix.Layers).Select(l => (Slots(2 * l * w), Slots((2 * l + 1) * w))).ToArray();
    }
}
