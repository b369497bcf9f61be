using System.Text.Json.Nodes;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// Mistral and Qwen2 checkpoints whose sliding window (4 positions) is much shorter than the sequences: the forward
/// pass of padded batches and greedy generation with the KV cache against the oracle, which applies transformers'
/// window per layer in double precision.
/// </summary>
[TestFixture]
public sealed class SlidingWindowModelTests
{
    private const int Window = 4; // TinyVariant.MistralSlidingWindow and Qwen2SlidingWindow

    private static readonly TinyVariant[] Windowed = [TinyVariant.MistralSlidingWindow, TinyVariant.Qwen2SlidingWindow];

    [Test]
    public void LogitsOfSequencesLongerThanTheWindowMatchTheOracle([ValueSource(nameof(Windowed))] TinyVariant variant, [Values] PaddingSide side)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 41, 9, 17, 12, 3), side);

        double[,,] expected = ParityRuns.OracleLogits(checkpoint.Oracle(), batch);
        double[,,] unwindowed = ParityRuns.OracleLogits(new NaiveTransformer(WithoutWindow(checkpoint), checkpoint.Weights), batch);
        int[] rows = ParityRuns.RealRows(batch);
        float[] actual = ParityRuns.EngineLogits(model, batch, rows);

        double tolerance = ParityRuns.Tolerance(ParityRuns.LogitScale(expected, batch));
        int vocab = checkpoint.VocabSize;
        bool windowBites = false;
        foreach (int row in rows)
        {
            int b = row / batch.Length, t = row % batch.Length, realIndex = t - batch.Starts[b];
            for (int v = 0; v < vocab; v++)
            {
                double difference = Math.Abs(expected[b, t, v] - unwindowed[b, t, v]);
                // Padding on either side leaves the real tokens in consecutive slots, so the window counts real tokens:
                // the first 4 of each sequence see all that precede them, with or without it.
                if (realIndex < Window)
                    Assert.That(difference, Is.LessThan(1e-9 * (1 + Math.Abs(expected[b, t, v]))), $"{checkpoint}: the oracle's window cut real token {realIndex}");
                windowBites |= difference > 5 * tolerance;
            }
        }
        Assert.That(windowBites, "the window changes the logits, so following it is tested");
        for (int i = 0; i < rows.Length; i++)
            for (int v = 0; v < vocab; v++)
            {
                double want = expected[rows[i] / batch.Length, rows[i] % batch.Length, v];
                if (Math.Abs(actual[i * vocab + v] - want) > tolerance)
                    Assert.Fail($"{checkpoint}, {side} padding: logit {v} at row {rows[i]} is {actual[i * vocab + v]}, the oracle says {want} (tolerance {tolerance:G3})");
            }
    }

    [Test]
    public void GreedyGenerationPastTheWindowProducesTheOraclesTokens([ValueSource(nameof(Windowed))] TinyVariant variant)
    {
        const int newTokens = 10;
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        // Left-padded into one batch: each decoding step's query sits in a later cache slot than its real position.
        var prompts = ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 42, 9, 2, 14);

        ParityRuns.AssertGreedyMatchesOracle(model, checkpoint.Oracle(), prompts, newTokens, checkpoint.ToString()!);
    }

    /// <summary>The checkpoint's config.json with the window switched off the way each configuration class allows.</summary>
    private static JsonObject WithoutWindow(TinyCheckpoint checkpoint)
    {
        var config = checkpoint.Config.DeepClone().AsObject();
        if (checkpoint.ModelType == "qwen2") config["use_sliding_window"] = false;
        else config["sliding_window"] = null;
        return config;
    }
}
