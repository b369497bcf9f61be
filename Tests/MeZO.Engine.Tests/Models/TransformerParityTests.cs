using System.Text.Json.Nodes;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// The engine's forward pass against the naive double-precision oracle, for every architecture variant: logits at
/// every real position (LogitsAt) and log-probabilities of target tokens (ScoreTokens), on batches of sequences of
/// different lengths padded on the left and on the right.
/// </summary>
[TestFixture]
public sealed class TransformerParityTests
{
    /// <summary>Lengths 1, 3 and 17 (and 8) in one batch: a single token, a short and a long sequence, all padded against each other.</summary>
    private static readonly int[] Lengths = [3, 17, 1, 8];

    public static IEnumerable<TestCaseData> Checkpoints()
    {
        foreach (var variant in TinyCheckpoints.AllVariants)
        {
            yield return new TestCaseData(variant, DType.F32, false, 1.0);
            yield return new TestCaseData(variant, DType.BF16, false, 1.0);
        }
        yield return new TestCaseData(TinyVariant.Gpt2, DType.F16, false, 1.0);
        yield return new TestCaseData(TinyVariant.OptPostLayerNorm, DType.F32, true, 1.0);
        yield return new TestCaseData(TinyVariant.Qwen2, DType.F32, false, 0.5);
    }

    public static IEnumerable<TestCaseData> CheckpointsAndSides() =>
        Checkpoints().SelectMany(c => new[] { PaddingSide.Left, PaddingSide.Right }.Select(side => new TestCaseData([.. c.Arguments, side])));

    internal static TinyCheckpoint Create(TinyVariant variant, DType type, bool sharded, double rotaryFactor) =>
        TinyCheckpoints.Create(variant, new TinyCheckpointOptions
        {
            DType = type,
            Sharded = sharded,
            PartialRotaryFactor = rotaryFactor == 1.0 ? null : rotaryFactor,
        });

    [TestCaseSource(nameof(CheckpointsAndSides))]
    public void LogitsAtEveryRealPosition_MatchTheOracle(TinyVariant variant, DType type, bool sharded, double rotaryFactor, PaddingSide side)
    {
        using var checkpoint = Create(variant, type, sharded, rotaryFactor);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 11, Lengths), side);

        double[,,] expected = ParityRuns.OracleLogits(checkpoint.Oracle(), batch);
        int[] rows = ParityRuns.RealRows(batch);
        float[] actual = ParityRuns.EngineLogits(model, batch, rows);

        double tolerance = ParityRuns.Tolerance(ParityRuns.LogitScale(expected, batch));
        int vocab = checkpoint.VocabSize;
        for (int i = 0; i < rows.Length; i++)
            for (int v = 0; v < vocab; v++)
            {
                double want = expected[rows[i] / batch.Length, rows[i] % batch.Length, v];
                if (Math.Abs(actual[i * vocab + v] - want) > tolerance)
                    Assert.Fail($"{checkpoint}: logit {v} at row {rows[i]} is {actual[i * vocab + v]}, the oracle says {want} (tolerance {tolerance:G3})");
            }
    }

    [TestCaseSource(nameof(CheckpointsAndSides))]
    public void ScoreTokens_MatchTheOracleLogSoftmax(TinyVariant variant, DType type, bool sharded, double rotaryFactor, PaddingSide side)
    {
        using var checkpoint = Create(variant, type, sharded, rotaryFactor);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var sequences = ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 12, Lengths);
        var batch = TokenBatch.Pack(sequences, side);
        // Every real position scores the next token; the last one scores an arbitrary id, so a length-1 sequence counts too.
        int[] rows = ParityRuns.RealRows(batch);
        int[] targets = Enumerable.Range(0, batch.BatchSize).SelectMany(b => Enumerable.Range(0, sequences[b].Length)
            .Select(i => i + 1 < sequences[b].Length ? sequences[b][i + 1] : (7 * b + 5) % checkpoint.VocabSize)).ToArray();

        double[,,] logits = ParityRuns.OracleLogits(checkpoint.Oracle(), batch);
        float[] actual = ParityRuns.EngineScores(model, batch, rows, targets);

        double tolerance = ParityRuns.Tolerance(ParityRuns.LogitScale(logits, batch));
        for (int i = 0; i < rows.Length; i++)
        {
            double want = NaiveTransformer.LogSoftmax(logits, rows[i] / batch.Length, rows[i] % batch.Length)[targets[i]];
            Assert.That(actual[i], Is.EqualTo(want).Within(tolerance), $"{checkpoint}: log p(target {targets[i]}) at row {rows[i]}");
        }
    }

    [Test]
    public void WeightsConvertedOnLoad_MatchTheOracleOnTheRoundedWeights([Values(DType.BF16, DType.F16)] DType storage)
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaUntied);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend, storage);
        // The oracle sees each stored float32 rounded once to the storage dtype, as the engine stores it.
        var rounded = checkpoint.Weights.ToDictionary(w => w.Key,
            w => new ReferenceTensor(w.Value.Shape, w.Value.Values.Select(v => ReferenceRounding.Round(storage, v)).ToArray()));
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 13, 5, 2), PaddingSide.Right);

        double[,,] expected = ParityRuns.OracleLogits(new NaiveTransformer(checkpoint.Config, rounded), batch);
        int[] rows = ParityRuns.RealRows(batch);
        float[] actual = ParityRuns.EngineLogits(model, batch, rows);

        Assert.That(model.Weights.TokenEmbedding.DType, Is.EqualTo(storage));
        double tolerance = ParityRuns.Tolerance(ParityRuns.LogitScale(expected, batch));
        for (int i = 0; i < rows.Length; i++)
            for (int v = 0; v < checkpoint.VocabSize; v++)
                Assert.That(actual[i * checkpoint.VocabSize + v],
                    Is.EqualTo(expected[rows[i] / batch.Length, rows[i] % batch.Length, v]).Within(tolerance), $"logit {v} at row {rows[i]}");
    }

    [Test]
    public void RopeThetaInsideTransformers5RopeParameters_IsUsed()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaUntied);
        // transformers 5 moves rope_theta (here 500000, far from the default 10000) into rope_parameters.
        var config = checkpoint.Config.DeepClone().AsObject();
        config.Remove("rope_theta");
        config.Remove("rope_scaling");
        config["rope_parameters"] = new JsonObject { ["rope_type"] = "default", ["rope_theta"] = 500000.0 };
        File.WriteAllText(Path.Combine(checkpoint.Folder, "config.json"), config.ToJsonString());
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 14, 17), PaddingSide.Right);

        double[,,] expected = ParityRuns.OracleLogits(new NaiveTransformer(config, checkpoint.Weights), batch);
        int[] rows = ParityRuns.RealRows(batch);
        float[] actual = ParityRuns.EngineLogits(model, batch, rows);

        double tolerance = ParityRuns.Tolerance(ParityRuns.LogitScale(expected, batch));
        for (int i = 0; i < rows.Length; i++)
            for (int v = 0; v < checkpoint.VocabSize; v++)
                Assert.That(actual[i * checkpoint.VocabSize + v], Is.EqualTo(expected[0, rows[i], v]).Within(tolerance), $"logit {v} at position {rows[i]}");
    }
}
