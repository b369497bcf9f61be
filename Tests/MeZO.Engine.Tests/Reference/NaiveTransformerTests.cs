using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MeZO.Engine.Tensors;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Reference;

/// <summary>
/// The oracle checked against things that do not come from it: hand-derived logits of models whose attention and MLP
/// are zero (so only embeddings, positions, norms and the head act), invariances every correct forward pass has, and
/// the published greedy output of a real pretrained Llama checkpoint.
/// </summary>
[TestFixture]
public sealed class NaiveTransformerTests
{
    /// <summary>Sums of a few dozen O(1) double products: 1e-12 is far above double rounding and far below any real error.</summary>
    private const double DoubleTolerance = 1e-12;

    [Test]
    public void LlamaWithZeroAttentionAndMlpIsTheNormalisedEmbeddingTimesTheTiedHead()
    {
        var config = new JsonObject
        {
            ["model_type"] = "llama", ["vocab_size"] = 3, ["hidden_size"] = 2, ["intermediate_size"] = 2, ["num_hidden_layers"] = 1,
            ["num_attention_heads"] = 1, ["num_key_value_heads"] = 1, ["rms_norm_eps"] = 1e-6, ["tie_word_embeddings"] = true,
        };
        var weights = new Dictionary<string, ReferenceTensor>
        {
            ["model.embed_tokens.weight"] = T([3, 2], 3, 4, 1, 0, 0, -2),
            ["model.norm.weight"] = T([2], 1, 2),
            ["model.layers.0.input_layernorm.weight"] = T([2], 5, 5),
            ["model.layers.0.post_attention_layernorm.weight"] = T([2], 5, 5),
        };
        foreach (string name in new[] { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" })
            weights[$"model.layers.0.{name}.weight"] = T([2, 2], 0, 0, 0, 0);

        double[,,] logits = new NaiveTransformer(config, weights).Forward(new[,] { { 0, 2 } });

        // Token 0, e = (3, 4): rms = √((9 + 16)/2 + ε), x̂ = (3, 4)/rms·(1, 2) = (3, 8)/rms, logits = E·x̂ = (41, 3, −16)/rms.
        double rms0 = Math.Sqrt(12.5 + 1e-6);
        AssertRow(logits, 0, 0, [41 / rms0, 3 / rms0, -16 / rms0]);
        // Token 2, e = (0, −2): rms = √(2 + ε), x̂ = (0, −4)/rms, logits = (−16, 0, 8)/rms.
        double rms2 = Math.Sqrt(2 + 1e-6);
        AssertRow(logits, 0, 1, [-16 / rms2, 0, 8 / rms2]);
    }

    [Test]
    public void OptWithZeroAttentionAndMlpAddsThePositionRowOffsetByTwo()
    {
        var config = new JsonObject
        {
            ["model_type"] = "opt", ["vocab_size"] = 3, ["hidden_size"] = 2, ["ffn_dim"] = 2, ["num_hidden_layers"] = 1,
            ["num_attention_heads"] = 1, ["max_position_embeddings"] = 4, ["do_layer_norm_before"] = true,
        };
        var weights = new Dictionary<string, ReferenceTensor>
        {
            ["model.decoder.embed_tokens.weight"] = T([3, 2], 1, 0, 0, 1, 2, -1),
            // Row k = (k, −k): a wrong offset or a position that ignores the padding moves the hidden state visibly.
            ["model.decoder.embed_positions.weight"] = T([6, 2], 0, 0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5),
        };
        foreach (string norm in new[] { "model.decoder.final_layer_norm", "model.decoder.layers.0.self_attn_layer_norm", "model.decoder.layers.0.final_layer_norm" })
        {
            weights[norm + ".weight"] = T([2], 1, 1);
            weights[norm + ".bias"] = T([2], 0, 0);
        }
        foreach (string linear in new[] { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "fc1", "fc2" })
        {
            weights[$"model.decoder.layers.0.{linear}.weight"] = T([2, 2], 0, 0, 0, 0);
            weights[$"model.decoder.layers.0.{linear}.bias"] = T([2], 0, 0);
        }

        // Left padding: positions cumsum(mask)·mask − 1 = (−1, 0, 1) → rows 1, 2, 3.
        double[,,] logits = new NaiveTransformer(config, weights).Forward(new[,] { { 1, 0, 2 } }, new[,] { { 0, 1, 1 } });

        // LayerNorm of a pair (a, b) is (s, −s) with s = d/√(d² + 1e-5), d = (a − b)/2; logits[v] = s·(E[v,0] − E[v,1]).
        static double S(double a, double b) => (a - b) / 2 / Math.Sqrt((a - b) * (a - b) / 4 + 1e-5);
        double s1 = S(1 + 2, 0 - 2); // token 0 at row 2
        AssertRow(logits, 0, 1, [s1 * 1, s1 * -1, s1 * 3]);
        double s2 = S(2 + 3, -1 - 3); // token 2 at row 3
        AssertRow(logits, 0, 2, [s2 * 1, s2 * -1, s2 * 3]);
    }

    [Test]
    public void Gpt2WithZeroAttentionAndMlpUsesPositionZeroForTheFirstRealToken()
    {
        var config = new JsonObject
        {
            ["model_type"] = "gpt2", ["vocab_size"] = 3, ["n_embd"] = 2, ["n_head"] = 1, ["n_layer"] = 1, ["n_positions"] = 4, ["n_inner"] = 2,
        };
        var weights = new Dictionary<string, ReferenceTensor>
        {
            ["transformer.wte.weight"] = T([3, 2], 1, 0, 0, 1, 2, -1),
            ["transformer.wpe.weight"] = T([4, 2], 0, 0, 1, -1, 2, -2, 3, -3),
        };
        foreach (string norm in new[] { "transformer.ln_f", "transformer.h.0.ln_1", "transformer.h.0.ln_2" })
        {
            weights[norm + ".weight"] = T([2], 1, 1);
            weights[norm + ".bias"] = T([2], 0, 0);
        }
        weights["transformer.h.0.attn.c_attn.weight"] = T([2, 6], new float[12]);
        weights["transformer.h.0.attn.c_attn.bias"] = T([6], new float[6]);
        weights["transformer.h.0.attn.c_proj.weight"] = T([2, 2], new float[4]);
        weights["transformer.h.0.attn.c_proj.bias"] = T([2], new float[2]);
        weights["transformer.h.0.mlp.c_fc.weight"] = T([2, 2], new float[4]);
        weights["transformer.h.0.mlp.c_fc.bias"] = T([2], new float[2]);
        weights["transformer.h.0.mlp.c_proj.weight"] = T([2, 2], new float[4]);
        weights["transformer.h.0.mlp.c_proj.bias"] = T([2], new float[2]);

        // Left padding: positions cumsum(mask) − 1 with padding 1 = (1, 0, 1).
        double[,,] logits = new NaiveTransformer(config, weights).Forward(new[,] { { 2, 0, 2 } }, new[,] { { 0, 1, 1 } });

        static double S(double a, double b) => (a - b) / 2 / Math.Sqrt((a - b) * (a - b) / 4 + 1e-5);
        double s1 = S(1 + 0, 0 - 0); // token 0 at position 0
        AssertRow(logits, 0, 1, [s1 * 1, s1 * -1, s1 * 3]);
        double s2 = S(2 + 1, -1 - 1); // token 2 at position 1
        AssertRow(logits, 0, 2, [s2 * 1, s2 * -1, s2 * 3]);
    }

    [Test]
    public void MistralWithUniformAttentionAndAWindowOfTwoAveragesTheValuesOfTheTokenAndTheOneBefore()
    {
        var config = new JsonObject
        {
            ["model_type"] = "mistral", ["vocab_size"] = 3, ["hidden_size"] = 2, ["intermediate_size"] = 2, ["num_hidden_layers"] = 1,
            ["num_attention_heads"] = 1, ["num_key_value_heads"] = 1, ["rms_norm_eps"] = 1e-6, ["tie_word_embeddings"] = true,
            ["sliding_window"] = 2,
        };
        var weights = new Dictionary<string, ReferenceTensor>
        {
            ["model.embed_tokens.weight"] = T([3, 2], 1, 0, 0, 1, 2, -1),
            ["model.norm.weight"] = T([2], 1, 1),
            ["model.layers.0.input_layernorm.weight"] = T([2], 1, 1),
            ["model.layers.0.post_attention_layernorm.weight"] = T([2], 1, 1),
            // q and k zero: uniform attention over the keys allowed. v = W_v·n with W_v = [[0, 0], [1, 0]]: v = (0, n₀).
            ["model.layers.0.self_attn.v_proj.weight"] = T([2, 2], 0, 0, 1, 0),
            ["model.layers.0.self_attn.o_proj.weight"] = T([2, 2], 1, 0, 0, 1),
        };
        foreach (string name in new[] { "self_attn.q_proj", "self_attn.k_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" })
            weights[$"model.layers.0.{name}.weight"] = T([2, 2], 0, 0, 0, 0);
        var oracle = new NaiveTransformer(config, weights);

        double[,,] logits = oracle.Forward(new[,] { { 0, 2, 1, 2 } });
        // The same tokens after one padding slot: the window spans two slots, which here are two real tokens.
        double[,,] padded = oracle.Forward(new[,] { { 1, 0, 2, 1, 2 } }, new[,] { { 0, 1, 1, 1, 1 } });

        // n₀ of each token: RMSNorm of (1, 0), (0, 1), (2, −1) with unit weight, first feature.
        double eps = 1e-6;
        double[] n0 = [1 / Math.Sqrt(0.5 + eps), 0, 2 / Math.Sqrt(2.5 + eps)];
        double[][] embedding = [[1, 0], [0, 1], [2, -1]];
        int[] ids = [0, 2, 1, 2];
        // Window 2 (kv_idx > q_idx − 2): position t averages the values of t − 1 and t (t = 0: only itself). Position 2
        // leaving out position 0 (n₀ = 1.41) is what a full causal mask, or the window off by one, would not do.
        double[] mean = [n0[0], (n0[0] + n0[2]) / 2, (n0[2] + n0[1]) / 2, (n0[1] + n0[2]) / 2];
        for (int t = 0; t < ids.Length; t++)
        {
            double x0 = embedding[ids[t]][0], x1 = embedding[ids[t]][1] + mean[t];
            double rms = Math.Sqrt((x0 * x0 + x1 * x1) / 2 + eps);
            double[] expected = [x0 / rms, x1 / rms, (2 * x0 - x1) / rms]; // the tied head: E·x̂
            AssertRow(logits, 0, t, expected);
            AssertRow(padded, 0, t + 1, expected);
        }
    }

    [Test]
    public void Gpt2WithUniformAttentionAveragesTheUnmaskedValues()
    {
        var config = new JsonObject
        {
            ["model_type"] = "gpt2", ["vocab_size"] = 3, ["n_embd"] = 2, ["n_head"] = 1, ["n_layer"] = 1, ["n_positions"] = 4, ["n_inner"] = 2,
        };
        var weights = new Dictionary<string, ReferenceTensor>
        {
            ["transformer.wte.weight"] = T([3, 2], 1, 0, 0, 1, 2, -1),
            ["transformer.wpe.weight"] = T([4, 2], new float[8]),
            // c_attn (in 2, out 6) = [q | k | v]: q and k zero (uniform attention); v = x·W_v with W_v = [[0, 1], [0, 0]],
            // so v = (0, x₀): reading the blocks in another order, or the matrix as (out, in), gives other values.
            ["transformer.h.0.attn.c_attn.weight"] = T([2, 6], 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0),
            ["transformer.h.0.attn.c_attn.bias"] = T([6], new float[6]),
            ["transformer.h.0.attn.c_proj.weight"] = T([2, 2], 1, 0, 0, 1),
            ["transformer.h.0.attn.c_proj.bias"] = T([2], new float[2]),
            ["transformer.h.0.mlp.c_fc.weight"] = T([2, 2], new float[4]),
            ["transformer.h.0.mlp.c_fc.bias"] = T([2], new float[2]),
            ["transformer.h.0.mlp.c_proj.weight"] = T([2, 2], new float[4]),
            ["transformer.h.0.mlp.c_proj.bias"] = T([2], new float[2]),
        };
        foreach (string norm in new[] { "transformer.ln_f", "transformer.h.0.ln_1", "transformer.h.0.ln_2" })
        {
            weights[norm + ".weight"] = T([2], 1, 1);
            weights[norm + ".bias"] = T([2], 0, 0);
        }

        double[,,] logits = new NaiveTransformer(config, weights).Forward(new[,] { { 1, 0, 2 } }, new[,] { { 0, 1, 1 } });

        AssertUniformAttentionLogits(logits, layerNormEps: 1e-5);
    }

    [Test]
    public void OptWithUniformAttentionAveragesTheUnmaskedValues()
    {
        var config = new JsonObject
        {
            ["model_type"] = "opt", ["vocab_size"] = 3, ["hidden_size"] = 2, ["ffn_dim"] = 2, ["num_hidden_layers"] = 1,
            ["num_attention_heads"] = 1, ["max_position_embeddings"] = 4, ["do_layer_norm_before"] = true,
        };
        var weights = new Dictionary<string, ReferenceTensor>
        {
            ["model.decoder.embed_tokens.weight"] = T([3, 2], 1, 0, 0, 1, 2, -1),
            ["model.decoder.embed_positions.weight"] = T([6, 2], new float[12]),
            // nn.Linear stores (out, in): v = W_v·x with W_v = [[0, 0], [1, 0]] gives v = (0, x₀), as in the GPT-2 case.
            ["model.decoder.layers.0.self_attn.v_proj.weight"] = T([2, 2], 0, 0, 1, 0),
            ["model.decoder.layers.0.self_attn.out_proj.weight"] = T([2, 2], 1, 0, 0, 1),
        };
        foreach (string norm in new[] { "model.decoder.final_layer_norm", "model.decoder.layers.0.self_attn_layer_norm", "model.decoder.layers.0.final_layer_norm" })
        {
            weights[norm + ".weight"] = T([2], 1, 1);
            weights[norm + ".bias"] = T([2], 0, 0);
        }
        foreach (string linear in new[] { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "fc1", "fc2" })
        {
            weights.TryAdd($"model.decoder.layers.0.{linear}.weight", T([2, 2], 0, 0, 0, 0));
            weights[$"model.decoder.layers.0.{linear}.bias"] = T([2], 0, 0);
        }

        double[,,] logits = new NaiveTransformer(config, weights).Forward(new[,] { { 1, 0, 2 } }, new[,] { { 0, 1, 1 } });

        AssertUniformAttentionLogits(logits, layerNormEps: 1e-5);
    }

    /// <summary>
    /// Hand derivation for the two uniform-attention cases: embeddings (1, 0), (0, 1), (2, −1); ids (1, 0, 2) with the
    /// first masked; positions add nothing; pre-LN with unit LayerNorms, so LN(a, b) = (s, −s), s = S(a, b) =
    /// d/√(d² + eps), d = (a − b)/2; v = (0, LN(x)₀); the MLP is zero; logits[v] = S(final)·(E[v,0] − E[v,1]).
    /// </summary>
    private static void AssertUniformAttentionLogits(double[,,] logits, double layerNormEps)
    {
        double S(double a, double b) => (a - b) / 2 / Math.Sqrt((a - b) * (a - b) / 4 + layerNormEps);
        double[] head = [1, -1, 3];
        // t = 1, token 0, x = (1, 0): attends only itself (t = 0 is padding): x + v = (1, S(1, 0)).
        double sa = S(1, 0);
        double s1 = S(1, sa);
        AssertRow(logits, 0, 1, head.Select(h => s1 * h).ToArray());
        // t = 2, token 2, x = (2, −1): attends t = 1 and 2 with equal weight: x + mean(v) = (2, −1 + (S(1, 0) + S(2, −1))/2).
        double s2 = S(2, -1 + (sa + S(2, -1)) / 2);
        AssertRow(logits, 0, 2, head.Select(h => s2 * h).ToArray());
    }

    [Test]
    public void PositionIdsFollowTransformers()
    {
        int[,] mask = { { 0, 0, 1, 1, 1 }, { 1, 1, 1, 0, 0 } };
        Assert.That(NaiveTransformer.PositionIds("opt", mask), Is.EqualTo(new[,] { { -1, -1, 0, 1, 2 }, { 0, 1, 2, -1, -1 } }));
        Assert.That(NaiveTransformer.PositionIds("llama", mask), Is.EqualTo(new[,] { { 1, 1, 0, 1, 2 }, { 0, 1, 2, 1, 1 } }));
    }

    [Test]
    public void EveryVariantScoresASequenceAloneAndPaddedInABatchTheSame([ValueSource(typeof(TinyCheckpoints), nameof(TinyCheckpoints.AllVariants))] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        AssertPaddingAndCausalInvariance(checkpoint);
    }

    [Test]
    public void PartialRotaryScoresASequenceAloneAndPaddedInABatchTheSame()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied, new TinyCheckpointOptions { PartialRotaryFactor = 0.5, DType = DType.BF16 });
        AssertPaddingAndCausalInvariance(checkpoint);
    }

    private static void AssertPaddingAndCausalInvariance(TinyCheckpoint checkpoint)
    {
        var oracle = checkpoint.Oracle();
        var rng = new Random(5);
        int[] sequence = Enumerable.Range(0, 5).Select(_ => rng.Next(checkpoint.VocabSize)).ToArray();
        const int length = 8, pad = 3;
        int[,] ids = new int[3, length], mask = new int[3, length];
        for (int t = 0; t < length; t++)
        {
            ids[0, t] = t < pad ? 0 : sequence[t - pad]; // left-padded (pad id 0: any id must do)
            mask[0, t] = t < pad ? 0 : 1;
            ids[1, t] = t < sequence.Length ? sequence[t] : 7; // right-padded
            mask[1, t] = t < sequence.Length ? 1 : 0;
            ids[2, t] = rng.Next(checkpoint.VocabSize); // an unpadded neighbour
            mask[2, t] = 1;
        }

        double[,,] alone = oracle.Forward(To2D(sequence));
        double[,,] batched = oracle.Forward(ids, mask);

        foreach (double value in batched) Assert.That(double.IsFinite(value), "padding positions must still give finite logits");
        double spread = Spread(alone);
        Assert.That(spread, Is.GreaterThan(0.5), "random weights should spread the logits, or the comparison is weak");
        for (int t = 0; t < sequence.Length; t++)
            for (int v = 0; v < checkpoint.VocabSize; v++)
            {
                Assert.That(batched[0, pad + t, v], Is.EqualTo(alone[0, t, v]).Within(DoubleTolerance * spread), $"left-padded, t={t}");
                Assert.That(batched[1, t, v], Is.EqualTo(alone[0, t, v]).Within(DoubleTolerance * spread), $"right-padded, t={t}");
            }

        // Causality: a prefix scores like the start of the full sequence.
        double[,,] prefix = oracle.Forward(To2D(sequence[..2]));
        for (int t = 0; t < 2; t++)
            for (int v = 0; v < checkpoint.VocabSize; v++)
                Assert.That(prefix[0, t, v], Is.EqualTo(alone[0, t, v]).Within(DoubleTolerance * spread), $"prefix, t={t}");
    }

    [Test]
    public void Stories260KGreedyFromBosReproducesThePublishedText()
    {
        // MODEL_CARD.md: llama2.c's `run -t 0.0` (an independent C implementation) prints this greedy continuation of BOS.
        const string published = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
        string folder = SharedData.Path("models/stories260K");
        var oracle = NaiveTransformer.FromFolder(folder);
        string[] pieces = Vocabulary(Path.Combine(folder, "tokenizer.json"));

        var ids = new List<int> { 1 }; // <s>
        while (Decode(pieces, ids.Skip(1)).Length < published.Length && ids.Count < 64)
        {
            double[,,] logits = oracle.Forward(To2D(ids.ToArray()));
            int best = 0;
            for (int v = 1; v < oracle.VocabSize; v++)
                if (logits[0, ids.Count - 1, v] > logits[0, ids.Count - 1, best]) best = v;
            ids.Add(best);
        }

        Assert.That(Decode(pieces, ids.Skip(1)), Does.StartWith(published));
    }

    private static ReferenceTensor T(int[] shape, params float[] values) => new(shape, values);

    private static int[,] To2D(int[] sequence)
    {
        var ids = new int[1, sequence.Length];
        for (int t = 0; t < sequence.Length; t++) ids[0, t] = sequence[t];
        return ids;
    }

    private static void AssertRow(double[,,] logits, int b, int t, double[] expected)
    {
        for (int v = 0; v < expected.Length; v++)
            Assert.That(logits[b, t, v], Is.EqualTo(expected[v]).Within(DoubleTolerance * (1 + Math.Abs(expected[v]))), $"logit ({b}, {t}, {v})");
    }

    private static double Spread(double[,,] logits)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (double value in logits)
        {
            min = Math.Min(min, value);
            max = Math.Max(max, value);
        }
        return max - min;
    }

    /// <summary>The pieces of a SentencePiece-style tokenizer.json by id.</summary>
    private static string[] Vocabulary(string path)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        var vocab = json.RootElement.GetProperty("model").GetProperty("vocab");
        var pieces = new string[vocab.EnumerateObject().Count()];
        foreach (var entry in vocab.EnumerateObject()) pieces[entry.Value.GetInt32()] = entry.Name;
        return pieces;
    }

    /// <summary>The tokenizer's decoder: ▁ → space, &lt;0xNN&gt; byte fallback, leading space stripped.</summary>
    private static string Decode(string[] pieces, IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            string piece = pieces[id];
            if (piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece.EndsWith('>'))
                bytes.Add(Convert.ToByte(piece.Substring(3, 2), 16));
            else
                bytes.AddRange(Encoding.UTF8.GetBytes(piece.Replace('▁', ' ')));
        }
        string text = Encoding.UTF8.GetString(bytes.ToArray());
        return text.StartsWith(' ') ? text[1..] : text;
    }
}
