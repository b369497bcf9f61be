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

    private static TinyCheckpoint Create(TinyVariant variant, DType type, bool sharded, double rotaryFactor) =>
        TinyCheckpoints.Create(variant, new TinyCheckpointOptions
        {
            DType = type,
            Sharded = sharded,
            PartialRotaryFactor = rotaryFactor == 1.0 ? null : rotaryFactor,
        });

    [TestCaseSource(nameof(CheckpointsAndSides))]
    public void LogitsAtEveryRealPositionMatchTheOracle(TinyVariant variant, DType type, bool sharded, double rotaryFactor, PaddingSide side)
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
    public void ScoreTokensMatchTheOracleLogSoftmax(TinyVariant variant, DType type, bool sharded, double rotaryFactor, PaddingSide side)
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
    public void WeightsConvertedOnLoadMatchTheOracleOnTheRoundedWeights([Values(DType.BF16, DType.F16)] DType storage)
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
    public void RopeThetaInsideTransformers5RopeParametersIsUsed()
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

    /// <summary>Configuration switches that change the computation without changing the stored tensors.</summary>
    public static IEnumerable<TestCaseData> ConfigurationSwitches()
    {
        TestCaseData Case(TinyVariant variant, string key, JsonNode? value) =>
            new TestCaseData(variant, key, value).SetArgDisplayNames(variant.ToString(), key, value?.ToJsonString() ?? "null");
        yield return Case(TinyVariant.Gpt2, "scale_attn_by_inverse_layer_idx", true);
        yield return Case(TinyVariant.Gpt2, "scale_attn_weights", false);
        yield return Case(TinyVariant.Gpt2, "activation_function", "gelu");
        yield return Case(TinyVariant.OptPreLayerNorm, "activation_function", "gelu");
        yield return Case(TinyVariant.OptPreLayerNorm, "_remove_final_layer_norm", true);
        yield return Case(TinyVariant.LlamaTied, "rope_scaling", new JsonObject { ["rope_type"] = "default" });
        // A stored lm_head.weight beside a tied head is ignored, as transformers ties it to the embedding.
        yield return Case(TinyVariant.Qwen2, "tie_word_embeddings", true);
        // The sliding window (4 here, shorter than the 9-token sequence) and which layers use it.
        yield return Case(TinyVariant.MistralSlidingWindow, "sliding_window", null); // none
        yield return Case(TinyVariant.Qwen2SlidingWindow, "use_sliding_window", false); // none
        yield return Case(TinyVariant.Qwen2SlidingWindow, "max_window_layers", 0); // layer 0 slides too
        yield return Case(TinyVariant.Qwen2SlidingWindow, "layer_types", new JsonArray("sliding_attention", "full_attention")); // the other way round
    }

    [TestCaseSource(nameof(ConfigurationSwitches))]
    public void ConfigurationSwitchesMatchTheOracle(TinyVariant variant, string key, JsonNode? value)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        var config = checkpoint.Config.DeepClone().AsObject();
        config[key] = value?.DeepClone();
        File.WriteAllText(Path.Combine(checkpoint.Folder, "config.json"), config.ToJsonString());
        var weights = checkpoint.Weights;
        if (key == "_remove_final_layer_norm") // transformers then has no final_layer_norm module: its tensors must go too
        {
            weights = weights.Where(w => !w.Key.StartsWith("model.decoder.final_layer_norm.", StringComparison.Ordinal)).ToDictionary();
            SafetensorsTestWriter.Write(Path.Combine(checkpoint.Folder, "model.safetensors"), DType.F32, weights.OrderBy(w => w.Key, StringComparer.Ordinal));
        }
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 15, 9, 4), PaddingSide.Left);

        double[,,] expected = ParityRuns.OracleLogits(new NaiveTransformer(config, weights), batch);
        double[,,] unchanged = ParityRuns.OracleLogits(checkpoint.Oracle(), batch);
        int[] rows = ParityRuns.RealRows(batch);
        float[] actual = ParityRuns.EngineLogits(model, batch, rows);

        double tolerance = ParityRuns.Tolerance(ParityRuns.LogitScale(expected, batch));
        // The switch must move the oracle's logits well beyond the tolerance (the smallest, gelu vs gelu_new, moves them
        // by 11×), so an engine that ignored it would fail.
        bool switchMatters = false;
        for (int i = 0; i < rows.Length; i++)
            for (int v = 0; v < checkpoint.VocabSize; v++)
            {
                int b = rows[i] / batch.Length, t = rows[i] % batch.Length;
                Assert.That(actual[i * checkpoint.VocabSize + v], Is.EqualTo(expected[b, t, v]).Within(tolerance), $"logit {v} at row {rows[i]}");
                switchMatters |= Math.Abs(expected[b, t, v] - unchanged[b, t, v]) > 5 * tolerance;
            }
        if (key != "rope_scaling") // rope_type "default" is no scaling: that it is accepted is the point
            Assert.That(switchMatters, "the switch changes the logits, so following it is tested");
    }

    [Test]
    public void MoreRowsThanOneLogitChunkMatchTheOracle()
    {
        // The LM head runs over at most 8388608 / V rows at a time: with 40000 words that is 209, fewer than the 216
        // rows asked for here, so both LogitsAt and ScoreTokens cross a chunk boundary. rows × V stays above 8.4M
        // whatever V is; OPT-350m's layout has the narrowest head here (word_embed_proj_dim 16), which keeps it cheap.
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.OptPostLayerNorm,
            new TinyCheckpointOptions { VocabSize = 40000, Layers = 1, MaxPositions = 80 });
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 16, 72, 72, 72), PaddingSide.Right);
        int[] rows = ParityRuns.RealRows(batch);
        int[] targets = rows.Select(r => r * 7919 % checkpoint.VocabSize).ToArray();
        using (var ws = model.CreateWorkspace(batch.BatchSize, batch.Length))
            Assert.That(ws.LogitRows, Is.LessThan(rows.Length), "the rows span more than one chunk");

        double[,,] expected = ParityRuns.OracleLogits(checkpoint.Oracle(), batch);
        float[] logits = ParityRuns.EngineLogits(model, batch, rows);
        float[] logProbs = ParityRuns.EngineScores(model, batch, rows, targets);

        double tolerance = ParityRuns.Tolerance(ParityRuns.LogitScale(expected, batch));
        int vocab = checkpoint.VocabSize;
        for (int i = 0; i < rows.Length; i++)
        {
            int b = rows[i] / batch.Length, t = rows[i] % batch.Length;
            for (int v = 0; v < vocab; v += 97) // a spread of columns in every row: a misplaced chunk shifts whole rows
                Assert.That(logits[i * vocab + v], Is.EqualTo(expected[b, t, v]).Within(tolerance), $"logit {v} at row {rows[i]}");
            Assert.That(logProbs[i], Is.EqualTo(NaiveTransformer.LogSoftmax(expected, b, t)[targets[i]]).Within(tolerance), $"log p at row {rows[i]}");
        }
    }
}
