using MeZO.Engine.Adapters;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Gradients;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Adapters;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// <see cref="ModelGradient"/> through a LoRA adapter (PEFT backprop, the base frozen) against the double-precision
/// oracle, which adds the bypass (α/r)·B·(A·x) itself at each adapted projection: along random directions d over
/// every A and B, ∇L·d must equal the oracle's central difference. A and B are both random and non-zero (PEFT's
/// B = 0 would make every dA zero and hide a wrong one), α/r = 3, on padded batches of architectures with separate,
/// fused (GPT-2, stored transposed) and grouped-query projections, dense and gated MLPs.
/// </summary>
[TestFixture]
public sealed class LoraGradientTests
{
    private const int Rank = 4;
    private const double Alpha = 12;
    private static readonly int[] Lengths = [7, 3, 6];

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (var variant in new[] { TinyVariant.Gpt2, TinyVariant.LlamaTied, TinyVariant.OptPreLayerNorm })
            foreach (var side in new[] { PaddingSide.Left, PaddingSide.Right })
                yield return new TestCaseData(variant, true, side, DType.F32).SetName($"{variant}, every projection, {side} padding");
        yield return new TestCaseData(TinyVariant.OptPostLayerNorm, true, PaddingSide.Right, DType.F32).SetName("OptPostLayerNorm, every projection, Right padding");
        yield return new TestCaseData(TinyVariant.Qwen2, true, PaddingSide.Left, DType.F32).SetName("Qwen2, every projection, Left padding");
        // o_proj's input (H·D = 40) is wider than the hidden size (24): its bypass's input gradient has a width of its own.
        yield return new TestCaseData(TinyVariant.LlamaExplicitHeadDim, true, PaddingSide.Right, DType.F32).SetName("LlamaExplicitHeadDim, every projection, Right padding");
        yield return new TestCaseData(TinyVariant.Mistral, false, PaddingSide.Right, DType.F32).SetName("Mistral, q_proj and v_proj, Right padding");
        yield return new TestCaseData(TinyVariant.Gpt2, false, PaddingSide.Right, DType.F32).SetName("Gpt2, q_proj and v_proj (c_attn), Right padding");
        // A 16-bit adapter is read as float32 by both passes; its gradient is float32 at the stored (rounded) values.
        yield return new TestCaseData(TinyVariant.LlamaUntied, true, PaddingSide.Left, DType.BF16).SetName("LlamaUntied, BF16 adapter, Left padding");
    }

    [TestCaseSource(nameof(Cases))]
    public void AdapterGradientsMatchTheOraclesFiniteDifferences(TinyVariant variant, bool everyProjection, PaddingSide side, DType adapterType)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        string[] targetNames = everyProjection ? LoraReference.AllProjections(checkpoint.ModelType) : [.. LoraConfig.PaperTargets];
        var paths = LoraReference.ModulePaths(checkpoint.ModelType, checkpoint.Options.Layers, targetNames);
        var lora = LoraReference.RandomTensors(checkpoint, paths, Rank, seed: 11, adapterType);
        using var adapter = LoraAdapter.Create(model, new LoraConfig(Rank, Alpha, targetNames), adapterType);
        LoraReference.Upload(adapter, lora);
        model.Lora = adapter;
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 17, Lengths), side);
        var (rows, targets) = ModelGradientTests.NextTokenPairs(batch);
        using var gradients = ModelGradient.Compute(model, batch, rows, targets, Enumerable.Repeat(-1f, rows.Length).ToArray());

        Assert.That(gradients.Gradients.Select(g => g.Name), Is.EqualTo(adapter.Parameters.Select(p => p.Name)), "the adapter's tensors, and no base weight");
        double Loss(IReadOnlyDictionary<string, ReferenceTensor> tensors)
        {
            var oracle = checkpoint.Oracle();
            oracle.Lora = (tensors, Alpha / Rank);
            return GradientOracle.Loss(oracle, batch, rows, targets);
        }
        Assert.That(gradients.Objective, Is.EqualTo(Loss(lora)).Within(ParityRuns.Tolerance(Math.Abs(gradients.Objective))), "objective");

        var rng = new Random((int)variant * 10 + (int)side);
        for (int direction = 0; direction < 2; direction++)
        {
            var d = lora.ToDictionary(p => p.Key, p => GradientOracle.Normal(rng, p.Value.Values.Length));
            GradientOracle.AssertDirectionalDerivative(lora, gradients.Download, d, Loss, $"{checkpoint} {side} direction {direction}");
        }
    }

    /// <summary>A trained base weight beside the adapter: its gradient is the one the merged model's weight gets.</summary>
    [Test]
    public void ABaseWeightTrainedBesideTheAdapterMatchesTheOracle()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Gpt2);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        string[] targetNames = LoraReference.AllProjections(checkpoint.ModelType);
        var lora = LoraReference.RandomTensors(checkpoint, LoraReference.ModulePaths(checkpoint.ModelType, checkpoint.Options.Layers, targetNames), Rank, seed: 13);
        using var adapter = LoraAdapter.Create(model, new LoraConfig(Rank, Alpha, targetNames));
        LoraReference.Upload(adapter, lora);
        model.Lora = adapter;
        var adapted = adapter.Modules[0];
        string baseName = model.Weights.Parameters.Single(p => ReferenceEquals(p.Tensor, adapted.Base)).Name;
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 19, Lengths), PaddingSide.Left);
        var (rows, targets) = ModelGradientTests.NextTokenPairs(batch);
        using var pass = new ModelGradient(model, batch.BatchSize, batch.Length, trainable: [adapted.Base, adapted.A]);
        pass.Forward(batch, rows, targets);
        pass.Backward(Enumerable.Repeat(-1f, rows.Length).ToArray());

        Assert.That(pass.Gradients.Select(g => g.Name), Is.EqualTo(new[] { baseName, adapted.NameA }));
        var rng = new Random(3);
        var d = checkpoint.Weights.ToDictionary(p => p.Key, p => p.Key == baseName ? GradientOracle.Normal(rng, p.Value.Values.Length) : new double[p.Value.Values.Length]);
        GradientOracle.AssertDirectionalDerivative(checkpoint.Weights, name =>
            {
                var parameter = model.Weights.Parameters.Single(p => p.Name == name).Tensor;
                return pass.GradientOf(parameter) is { } g ? Values(g) : new float[parameter.ElementCount];
            },
            d, weights =>
            {
                var oracle = new NaiveTransformer(checkpoint.Config, weights) { Lora = (lora, Alpha / Rank) };
                return GradientOracle.Loss(oracle, batch, rows, targets);
            }, $"{checkpoint} along {baseName}");
    }

    [Test]
    public void RecomputingLayersGivesTheKeptActivationsAdapterGradientBitForBit([Values(TinyVariant.Gpt2, TinyVariant.LlamaTied, TinyVariant.OptPostLayerNorm)] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        string[] targetNames = LoraReference.AllProjections(checkpoint.ModelType);
        using var adapter = LoraAdapter.Create(model, new LoraConfig(Rank, Alpha, targetNames));
        LoraReference.Upload(adapter, LoraReference.RandomTensors(checkpoint,
            LoraReference.ModulePaths(checkpoint.ModelType, checkpoint.Options.Layers, targetNames), Rank, seed: 7));
        model.Lora = adapter;
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
        foreach (var p in adapter.Parameters)
            Assert.That(Values(recomputed.GradientOf(p.Tensor)!), Is.EqualTo(Values(kept.GradientOf(p.Tensor)!)), p.Name);
        foreach (var (pass, recompute) in new[] { (kept, false), (recomputed, true) })
            Assert.That(pass.Bytes - pass.Gradients.Sum(g => g.Tensor.ByteCount), Is.EqualTo(
                ModelGradient.EstimateWorkingBytes(model.Spec, batch.BatchSize, batch.Length, recompute, rows.Length, model.Adapters)),
                $"the estimate is what the gradient holds (recompute {recompute})");
    }

    /// <summary>A gradient sized and wired for the adapters attached when it was made refuses to run with others.</summary>
    [Test]
    public void AGradientMadeBeforeTheAdapterWasAttachedIsRefused()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var pass = new ModelGradient(model, 1, 4);
        using var adapter = LoraAdapter.Create(model, new LoraConfig(Rank, Alpha, LoraConfig.PaperTargets));
        Assert.That(() => new ModelGradient(model, 1, 4, trainable: [adapter.Modules[0].A]),
            Throws.ArgumentException.With.Message.Contains("neither the model's parameter nor its attached adapter's"), "an adapter not attached");
        model.Lora = adapter;
        var batch = TokenBatch.Pack([[1, 2, 3]], PaddingSide.Right);
        Assert.That(() => pass.Forward(batch, [0, 1], [2, 3]), Throws.InvalidOperationException.With.Message.Contains("changed since"));
    }

    internal static float[] Values(Tensor t)
    {
        var values = new float[t.ElementCount];
        t.Backend.Download<float>(t, values);
        return values;
    }
}
