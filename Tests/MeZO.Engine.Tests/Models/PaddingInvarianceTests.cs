using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// A sequence scores the same alone and inside a padded batch, on either side: padding must neither leak into
/// attention nor shift positions. Also: a workspace reused for a smaller batch gives what a fresh one gives, and one
/// forward pass for scores and logits gives what two give.
/// </summary>
[TestFixture]
public sealed class PaddingInvarianceTests
{
    /// <summary>
    /// The same ops on the same values; only the order in which a blocked matrix product sums may depend on where a
    /// row sits in the batch, which moves results by float32 rounding (≈ 1e-7 relative), far below the order-one
    /// change a padding leak or a shifted position causes.
    /// </summary>
    private const double RelativeTolerance = 2e-6;

    [Test]
    public void ASequenceScoresTheSameAloneAndInsideAPaddedBatch(
        [ValueSource(typeof(TinyCheckpoints), nameof(TinyCheckpoints.AllVariants))] TinyVariant variant,
        [Values] PaddingSide side)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var sequences = ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 21, 1, 17, 6, 3);
        int[] probe = sequences[2];
        int[] targets = probe.Skip(1).Append(0).ToArray();

        var alone = TokenBatch.Pack([probe], side);
        var aloneRows = Enumerable.Range(0, probe.Length).Select(i => alone.Row(0, i)).ToArray();
        float[] aloneLogits = ParityRuns.EngineLogits(model, alone, aloneRows);
        float[] aloneScores = ParityRuns.EngineScores(model, alone, aloneRows, targets);

        var padded = TokenBatch.Pack(sequences, side);
        var paddedRows = Enumerable.Range(0, probe.Length).Select(i => padded.Row(2, i)).ToArray();
        float[] paddedLogits = ParityRuns.EngineLogits(model, padded, paddedRows);
        float[] paddedScores = ParityRuns.EngineScores(model, padded, paddedRows, targets);

        double tolerance = RelativeTolerance * Math.Max(1.0, aloneLogits.Max(Math.Abs));
        Assert.That(padded.Starts[2], side == PaddingSide.Left ? Is.EqualTo(11) : Is.Zero, "the probe is padded as intended");
        Assert.That(paddedLogits, Is.EqualTo(aloneLogits).Within(tolerance), $"{checkpoint}: logits");
        Assert.That(paddedScores, Is.EqualTo(aloneScores).Within(tolerance), $"{checkpoint}: log-probabilities");
    }

    [Test]
    public void AWorkspaceReusedForASmallerBatchGivesWhatAFreshOneGives([Values(TinyVariant.OptPreLayerNorm, TinyVariant.LlamaTied)] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var large = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 22, 17, 4, 9), PaddingSide.Right);
        var small = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 23, 2, 5), PaddingSide.Left);
        int[] rows = ParityRuns.RealRows(small);

        float[] fresh = ParityRuns.EngineLogits(model, small, rows);
        using var ws = model.CreateWorkspace(large.BatchSize, large.Length);
        var largeLogits = new float[ParityRuns.RealRows(large).Length * checkpoint.VocabSize];
        model.LogitsAt(ws, large, ParityRuns.RealRows(large), largeLogits);
        var reused = new float[fresh.Length];
        model.LogitsAt(ws, small, rows, reused);

        // The same rows through the same code on the same values: nothing left over from the larger call may show.
        Assert.That(reused, Is.EqualTo(fresh));
    }

    [Test]
    public void OneForwardPassForScoresAndLogitsGivesWhatTwoSeparateCallsGive([Values(TinyVariant.OptPreLayerNorm, TinyVariant.LlamaTied)] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 24, 9, 3, 17), PaddingSide.Left);
        int[] rows = ParityRuns.RealRows(batch);
        int[] targets = rows.Select(r => (r * 7 + 3) % checkpoint.VocabSize).ToArray();
        int[] logitRows = [rows[^1], rows[0], rows[5]];

        using var ws = model.CreateWorkspace(batch.BatchSize, batch.Length);
        var logProbs = new float[rows.Length];
        var logits = new float[logitRows.Length * checkpoint.VocabSize];
        model.ScoreTokensAndLogits(ws, batch, rows, targets, logProbs, logitRows, logits);

        // Each separate call is compared with the oracle elsewhere; the combined one must be the same computation exactly
        // (the scoring must leave the final hidden states intact for the logits).
        Assert.That(logProbs, Is.EqualTo(ParityRuns.EngineScores(model, batch, rows, targets)), "log-probabilities");
        Assert.That(logits, Is.EqualTo(ParityRuns.EngineLogits(model, batch, logitRows)), "logits");
    }
}
