using MeZO.Engine.Adapters;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Models;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Adapters;

/// <summary>
/// A model with a LoRA adapter attached computes what the merged model W + (α/r)·B·A computes: its log-probabilities
/// on a padded batch against those of a checkpoint whose weights the test edited (loaded by the engine) and against the
/// double-precision oracle on the merged weights, on every tiny architecture, for the paper's targets and for every
/// projection. A and B are random and non-zero, and α/r = 3, so a bypass that is missing, transposed, scaled by r/α or
/// added to the wrong projection moves the scores by far more than the tolerance.
/// </summary>
[TestFixture]
public sealed class LoraForwardTests
{
    private const int Rank = 4;
    private const double Alpha = 12;

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (var variant in TinyCheckpoints.AllVariants)
        {
            yield return new TestCaseData(variant, DType.F32, false, PaddingSide.Right).SetName($"{variant}, F32, q_proj and v_proj, right padding");
            yield return new TestCaseData(variant, DType.F32, true, PaddingSide.Left).SetName($"{variant}, F32, every projection, left padding");
        }
        yield return new TestCaseData(TinyVariant.LlamaUntied, DType.BF16, true, PaddingSide.Left).SetName("LlamaUntied, BF16 base, every projection");
        yield return new TestCaseData(TinyVariant.Gpt2, DType.BF16, true, PaddingSide.Right).SetName("Gpt2, BF16 base, every projection");
    }

    [TestCaseSource(nameof(Cases))]
    public void LoraScoresEqualThoseOfTheMergedCheckpoint(TinyVariant variant, DType baseType, bool everyProjection, PaddingSide side)
    {
        using var checkpoint = TinyCheckpoints.Create(variant, new TinyCheckpointOptions { DType = baseType });
        string[] targets = everyProjection ? LoraReference.AllProjections(checkpoint.ModelType) : [.. LoraConfig.PaperTargets];
        var paths = LoraReference.ModulePaths(checkpoint.ModelType, checkpoint.Options.Layers, targets);
        var lora = LoraReference.RandomTensors(checkpoint, paths, Rank, seed: 5);
        var merged = LoraReference.Merged(checkpoint, lora, Alpha / Rank);
        string mergedFolder = LoraReference.WriteFolder(checkpoint, merged, LoraReference.TempFolder("merged"));
        try
        {
            using var backend = new CpuBackend();
            using var model = Transformer.Load(checkpoint.Folder, backend);
            using var mergedModel = Transformer.Load(mergedFolder, backend);
            var (batch, rows, targetIds) = LoraReference.Batch(checkpoint.VocabSize, side);
            var plain = ParityRuns.EngineScores(model, batch, rows, targetIds);

            using var adapter = LoraAdapter.Create(model, new LoraConfig(Rank, Alpha, targets));
            Assert.That(adapter.Modules.Select(m => m.Path), Is.EquivalentTo(paths), "the modules the targets adapt");
            LoraReference.Upload(adapter, lora);
            model.Lora = adapter;
            var adapted = ParityRuns.EngineScores(model, batch, rows, targetIds);
            var expected = ParityRuns.EngineScores(mergedModel, batch, rows, targetIds);
            var oracle = LoraReference.OracleScores(new NaiveTransformer(checkpoint.Config, merged), batch, rows, targetIds, out double scale);

            // Both engine sides round differently in float32 (the merged weight once, the bypass through two small
            // products and a scaled add): the parity tolerance, relative to the largest logit, covers either.
            double tolerance = ParityRuns.Tolerance(scale);
            for (int i = 0; i < rows.Length; i++)
            {
                Assert.That(adapted[i], Is.EqualTo(expected[i]).Within(tolerance), $"row {rows[i]}: adapted vs merged checkpoint");
                Assert.That(adapted[i], Is.EqualTo(oracle[i]).Within(tolerance), $"row {rows[i]}: adapted vs the oracle on merged weights");
            }
            double moved = rows.Select((_, i) => Math.Abs(adapted[i] - plain[i])).Max();
            Assert.That(moved, Is.GreaterThan(1000 * tolerance), "the adapter must change the scores, or the comparison proves nothing");
        }
        finally
        {
            LoraReference.Delete(mergedFolder);
        }
    }

    [Test]
    public void TheTargetsAsOneRegularExpressionAdaptExactlyTheModulesItMatches()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Qwen2);
        // Layer 1's k_proj and every up_proj: PEFT fullmatches the pattern against the module path.
        string[] paths = ["model.layers.0.mlp.up_proj", "model.layers.1.self_attn.k_proj", "model.layers.1.mlp.up_proj"];
        var lora = LoraReference.RandomTensors(checkpoint, paths, Rank, seed: 6);
        var merged = LoraReference.Merged(checkpoint, lora, Alpha / Rank);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var adapter = LoraAdapter.Create(model, new LoraConfig(Rank, Alpha, [], @"model\.layers\.1\.self_attn\.k_proj|.*\.up_proj"));
        Assert.That(adapter.Modules.Select(m => m.Path), Is.EquivalentTo(paths));
        LoraReference.Upload(adapter, lora);
        model.Lora = adapter;
        var (batch, rows, targets) = LoraReference.Batch(checkpoint.VocabSize, PaddingSide.Left);
        var adapted = ParityRuns.EngineScores(model, batch, rows, targets);
        var oracle = LoraReference.OracleScores(new NaiveTransformer(checkpoint.Config, merged), batch, rows, targets, out double scale);
        for (int i = 0; i < rows.Length; i++)
            Assert.That(adapted[i], Is.EqualTo(oracle[i]).Within(ParityRuns.Tolerance(scale)), $"row {rows[i]}");
    }

    [TestCase(TinyVariant.LlamaUntied)]
    [TestCase(TinyVariant.Gpt2)]
    [TestCase(TinyVariant.OptPreLayerNorm)]
    public void GreedyGenerationWithTheKvCacheFollowsTheMergedWeights(TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        string[] targets = LoraReference.AllProjections(checkpoint.ModelType);
        var paths = LoraReference.ModulePaths(checkpoint.ModelType, checkpoint.Options.Layers, targets);
        var lora = LoraReference.RandomTensors(checkpoint, paths, Rank, seed: 13);
        var merged = LoraReference.Merged(checkpoint, lora, Alpha / Rank);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var adapter = LoraAdapter.Create(model, new LoraConfig(Rank, Alpha, targets));
        LoraReference.Upload(adapter, lora);
        model.Lora = adapter;
        // Prefill and single-token decoding steps both go through the bypass; the oracle reruns the whole sequence.
        int[][] prompts = [[3, 5, 7, 11], [9, 2], [41]];
        ParityRuns.AssertGreedyMatchesOracle(model, new NaiveTransformer(checkpoint.Config, merged), prompts, newTokens: 6, $"{variant} + LoRA");
    }

    [Test]
    public void AWorkspaceCreatedBeforeTheAdapterIsAttachedIsRefused()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var early = model.CreateWorkspace(1, 4);
        using var adapter = LoraAdapter.Create(model, new LoraConfig(Rank, Alpha, LoraConfig.PaperTargets));
        model.Lora = adapter;
        var batch = TokenBatch.Pack([[1, 2, 3]], PaddingSide.Right);
        Assert.Throws<ArgumentException>(() => model.ScoreTokens(early, batch, [0], [2], new float[1]));
    }

    [Test]
    public void AnAdapterMadeForAnotherModelIsRefused()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var other = Transformer.Load(checkpoint.Folder, backend);
        using var adapter = LoraAdapter.Create(other, new LoraConfig(Rank, Alpha, LoraConfig.PaperTargets));
        Assert.Throws<ArgumentException>(() => model.Lora = adapter);
    }
}
