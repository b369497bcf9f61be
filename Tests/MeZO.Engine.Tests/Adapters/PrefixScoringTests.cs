using MeZO.Engine.Adapters;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Tests.Models;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Adapters;

/// <summary>
/// A prefix made from the KV cache that tokens X leave is those tokens, to every later token: scoring S with it must
/// give what scoring X ++ S without a prefix gives at S's rows. The reference is X ++ S through the double-precision
/// oracle (each sequence alone, unpadded), and through the engine's plain forward pass as a batch.
/// </summary>
[TestFixture]
public sealed class PrefixScoringTests
{
    private static readonly int[] Prefix = [17, 4, 58];

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (var variant in TinyCheckpoints.AllVariants)
            foreach (var side in new[] { PaddingSide.Left, PaddingSide.Right })
                if (!(side == PaddingSide.Left && PrefixRuns.HasBitingWindow(variant)))
                    yield return new TestCaseData(variant, side).SetName($"{variant}, {side} padding");
    }

    [TestCaseSource(nameof(Cases))]
    public void ScoringWithAPrefixFromActivationsEqualsScoringThePrefixTokensAndTheSequence(TinyVariant variant, PaddingSide side)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        int[][] sequences = ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 7, 6, 2, 1);
        var batch = TokenBatch.Pack(sequences, side);
        int[] rows = ParityRuns.RealRows(batch);
        int vocab = checkpoint.VocabSize;

        var concatenated = TokenBatch.Pack(sequences.Select(s => (int[])[.. Prefix, .. s]).ToArray(), side);
        int[] concatenatedRows = Enumerable.Range(0, sequences.Length)
            .SelectMany(b => Enumerable.Range(0, sequences[b].Length).Select(i => concatenated.Row(b, Prefix.Length + i))).ToArray();
        float[] plain = ParityRuns.EngineLogits(model, concatenated, concatenatedRows);

        using var prefix = PrefixAdapter.FromActivations(model, Prefix);
        model.Prefix = prefix;
        float[] actual = ParityRuns.EngineLogits(model, batch, rows);

        var oracle = checkpoint.Oracle();
        int r = 0;
        for (int b = 0; b < sequences.Length; b++)
        {
            double[,,] expected = PrefixRuns.OracleOverConcatenation(oracle, Prefix, sequences[b]);
            double scale = 0;
            foreach (double x in expected) scale = Math.Max(scale, Math.Abs(x));
            double tolerance = ParityRuns.Tolerance(scale);
            for (int i = 0; i < sequences[b].Length; i++, r++)
                for (int v = 0; v < vocab; v++)
                {
                    Assert.That(actual[r * vocab + v], Is.EqualTo(expected[0, Prefix.Length + i, v]).Within(tolerance),
                        $"sequence {b}, token {i}, logit {v}: the oracle over X ++ S");
                    Assert.That(actual[r * vocab + v], Is.EqualTo(plain[r * vocab + v]).Within(tolerance),
                        $"sequence {b}, token {i}, logit {v}: the engine over X ++ S");
                }
        }
    }

    [Test]
    public void ScoresAndLogitsFromOnePassMatchTheOracleOverThePrefixTokensAndTheSequence()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var prefix = PrefixAdapter.FromActivations(model, Prefix);
        model.Prefix = prefix;
        var batch = TokenBatch.Pack([[5, 9, 2, 31], [8, 1]], PaddingSide.Left);
        int[] rows = [batch.Row(0, 0), batch.Row(0, 1), batch.Row(0, 2), batch.Row(1, 0)];
        int[] targets = [9, 2, 31, 1];
        using var ws = model.CreateWorkspace(batch.BatchSize, batch.Length);
        var scores = new float[rows.Length];
        var logits = new float[rows.Length * checkpoint.VocabSize];
        model.ScoreTokensAndLogits(ws, batch, rows, targets, scores, rows, logits);

        var oracle = checkpoint.Oracle();
        int[][] sequences = [[5, 9, 2, 31], [8, 1]];
        (int Sequence, int Index)[] at = [(0, 0), (0, 1), (0, 2), (1, 0)];
        for (int k = 0; k < rows.Length; k++)
        {
            double[,,] expected = PrefixRuns.OracleOverConcatenation(oracle, Prefix, sequences[at[k].Sequence]);
            double[] logSoftmax = NaiveTransformer.LogSoftmax(expected, 0, Prefix.Length + at[k].Index);
            double scale = 0;
            for (int v = 0; v < checkpoint.VocabSize; v++) scale = Math.Max(scale, Math.Abs(expected[0, Prefix.Length + at[k].Index, v]));
            // A log-probability's error is that of the logits it comes from (ParityRuns).
            double tolerance = ParityRuns.Tolerance(scale);
            Assert.That(scores[k], Is.EqualTo(logSoftmax[targets[k]]).Within(tolerance), $"row {k}: log-probability");
            for (int v = 0; v < checkpoint.VocabSize; v++)
                Assert.That(logits[k * checkpoint.VocabSize + v], Is.EqualTo(expected[0, Prefix.Length + at[k].Index, v]).Within(tolerance),
                    $"row {k}, logit {v}");
        }
    }
}
