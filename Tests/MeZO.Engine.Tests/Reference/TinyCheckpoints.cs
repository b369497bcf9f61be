using System.Text.Json;
using System.Text.Json.Nodes;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Tests.Reference;

/// <summary>
/// Writes tiny random Hugging Face model folders (config.json + safetensors) with the exact tensor names and config
/// keys of transformers' opt, llama, mistral, qwen2 and gpt2 models, for the engine's model tests to load and compare
/// against <see cref="NaiveTransformer"/>.
/// <code>
/// using var checkpoint = TinyCheckpoints.Create(TinyVariant.Qwen2, new TinyCheckpointOptions { DType = DType.BF16 });
/// double[,,] expected = checkpoint.Oracle().Forward(ids, mask);   // load checkpoint.Folder into the engine and compare
/// </code>
/// Weights are drawn so that activations stay of order one through the layers (linear weights N(0, 1/fan_in), norm
/// weights near 1, small biases), which keeps logits spread over a few units: a wrong op changes them visibly.
/// </summary>
public static class TinyCheckpoints
{
    public static IReadOnlyList<TinyVariant> AllVariants { get; } = Enum.GetValues<TinyVariant>();

    /// <summary>Writes <paramref name="variant"/> into a fresh temporary folder (deleted when the result is disposed).</summary>
    public static TinyCheckpoint Create(TinyVariant variant, TinyCheckpointOptions? options = null)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"mezo-tiny-{variant}-{Guid.NewGuid():N}");
        return Create(variant, folder, options ?? new TinyCheckpointOptions());
    }

    /// <summary>Writes <paramref name="variant"/> into <paramref name="folder"/> (created if missing).</summary>
    public static TinyCheckpoint Create(TinyVariant variant, string folder, TinyCheckpointOptions options)
    {
        if (options.DType is not (DType.F32 or DType.F16 or DType.BF16))
            throw new ArgumentException($"TinyCheckpointOptions.DType: {options.DType} is not a weight dtype");
        var builder = new WeightBuilder(options.DType, options.Seed);
        JsonObject config = variant switch
        {
            TinyVariant.OptPreLayerNorm => Opt(builder, options, hidden: 32, projection: 32, heads: 4, ffn: 64, layerNormBefore: true),
            TinyVariant.OptPostLayerNorm => Opt(builder, options, hidden: 32, projection: 16, heads: 4, ffn: 48, layerNormBefore: false),
            TinyVariant.LlamaTied => LlamaFamily(builder, options, new("llama", "LlamaForCausalLM", Hidden: 32, Heads: 4, KvHeads: 2,
                HeadDim: null, Intermediate: 48, Tied: true, RopeTheta: 10000, RmsEps: 1e-6)),
            TinyVariant.LlamaUntied => LlamaFamily(builder, options, new("llama", "LlamaForCausalLM", Hidden: 32, Heads: 4, KvHeads: 2,
                HeadDim: null, Intermediate: 48, Tied: false, RopeTheta: 500000, RmsEps: 1e-5)),
            TinyVariant.LlamaExplicitHeadDim => LlamaFamily(builder, options, new("llama", "LlamaForCausalLM", Hidden: 24, Heads: 4,
                KvHeads: 2, HeadDim: 10, Intermediate: 40, Tied: false, RopeTheta: 10000, RmsEps: 1e-6)),
            TinyVariant.Mistral => LlamaFamily(builder, options, new("mistral", "MistralForCausalLM", Hidden: 32, Heads: 4, KvHeads: 1,
                HeadDim: 8, Intermediate: 56, Tied: false, RopeTheta: 1e6, RmsEps: 1e-5)),
            TinyVariant.Qwen2 => LlamaFamily(builder, options, new("qwen2", "Qwen2ForCausalLM", Hidden: 48, Heads: 4, KvHeads: 2,
                HeadDim: null, Intermediate: 64, Tied: false, RopeTheta: 1e6, RmsEps: 1e-6)),
            TinyVariant.MistralSlidingWindow => LlamaFamily(builder, options, new("mistral", "MistralForCausalLM", Hidden: 32, Heads: 4,
                KvHeads: 2, HeadDim: 8, Intermediate: 56, Tied: false, RopeTheta: 1e4, RmsEps: 1e-5, SlidingWindow: 4)),
            TinyVariant.Qwen2SlidingWindow => LlamaFamily(builder, options, new("qwen2", "Qwen2ForCausalLM", Hidden: 48, Heads: 4,
                KvHeads: 2, HeadDim: null, Intermediate: 64, Tied: false, RopeTheta: 1e6, RmsEps: 1e-6, SlidingWindow: 4)),
            TinyVariant.Gpt2 => Gpt2(builder, options, hidden: 32, heads: 4),
            _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, "unknown variant"),
        };
        config["torch_dtype"] = options.DType switch { DType.BF16 => "bfloat16", DType.F16 => "float16", _ => "float32" };

        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var weights = builder.Tensors;
        if (options.Sharded) WriteShards(folder, options.DType, weights);
        else SafetensorsTestWriter.Write(Path.Combine(folder, "model.safetensors"), options.DType, weights.OrderBy(w => w.Key, StringComparer.Ordinal));
        return new TinyCheckpoint(folder, variant, options, config, weights);
    }

    /// <summary>transformers' OPTForCausalLM (modeling_opt.py): names under model.decoder, a tied lm_head.</summary>
    private static JsonObject Opt(WeightBuilder w, TinyCheckpointOptions o, int hidden, int projection, int heads, int ffn, bool layerNormBefore)
    {
        const string p = "model.decoder.";
        w.Embedding(p + "embed_tokens.weight", o.VocabSize, projection);
        w.Embedding(p + "embed_positions.weight", o.MaxPositions + 2, hidden); // OPTLearnedPositionalEmbedding's offset 2
        if (projection != hidden)
        {
            w.Linear(p + "project_in.weight", hidden, projection, bias: false);
            w.Linear(p + "project_out.weight", projection, hidden, bias: false);
        }
        for (int i = 0; i < o.Layers; i++)
        {
            string l = $"{p}layers.{i}.";
            foreach (string proj in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
                w.Linear($"{l}self_attn.{proj}", hidden, hidden, bias: true);
            w.Norm(l + "self_attn_layer_norm", hidden, bias: true);
            w.Linear(l + "fc1", ffn, hidden, bias: true);
            w.Linear(l + "fc2", hidden, ffn, bias: true);
            w.Norm(l + "final_layer_norm", hidden, bias: true);
        }
        if (layerNormBefore) w.Norm(p + "final_layer_norm", hidden, bias: true);
        return new JsonObject
        {
            ["architectures"] = new JsonArray("OPTForCausalLM"),
            ["model_type"] = "opt",
            ["vocab_size"] = o.VocabSize,
            ["hidden_size"] = hidden,
            ["word_embed_proj_dim"] = projection,
            ["num_hidden_layers"] = o.Layers,
            ["num_attention_heads"] = heads,
            ["ffn_dim"] = ffn,
            ["max_position_embeddings"] = o.MaxPositions,
            ["do_layer_norm_before"] = layerNormBefore,
            ["_remove_final_layer_norm"] = false,
            ["activation_function"] = "relu",
            ["enable_bias"] = true,
            ["layer_norm_elementwise_affine"] = true,
            ["tie_word_embeddings"] = true,
            ["dropout"] = 0.1,
            ["attention_dropout"] = 0.0,
            ["layerdrop"] = 0.0,
            ["init_std"] = 0.02,
            ["use_cache"] = true,
            ["pad_token_id"] = 1,
            ["bos_token_id"] = 2,
            ["eos_token_id"] = 2,
        };
    }

    /// <summary>A Llama-family shape; <paramref name="SlidingWindow"/> is a window that bites (Mistral, Qwen2 only).</summary>
    private sealed record LlamaShape(string ModelType, string Architecture, int Hidden, int Heads, int KvHeads, int? HeadDim,
        int Intermediate, bool Tied, double RopeTheta, double RmsEps, int? SlidingWindow = null);

    /// <summary>
    /// transformers' LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM (modeling_llama.py, modular_qwen2.py):
    /// names under model., Qwen2's q/k/v biases, an lm_head.weight unless tied.
    /// </summary>
    private static JsonObject LlamaFamily(WeightBuilder w, TinyCheckpointOptions o, LlamaShape s)
    {
        int headDim = s.HeadDim ?? s.Hidden / s.Heads;
        bool qkvBias = s.ModelType == "qwen2";
        w.Embedding("model.embed_tokens.weight", o.VocabSize, s.Hidden);
        for (int i = 0; i < o.Layers; i++)
        {
            string l = $"model.layers.{i}.";
            w.Linear(l + "self_attn.q_proj", s.Heads * headDim, s.Hidden, qkvBias);
            w.Linear(l + "self_attn.k_proj", s.KvHeads * headDim, s.Hidden, qkvBias);
            w.Linear(l + "self_attn.v_proj", s.KvHeads * headDim, s.Hidden, qkvBias);
            w.Linear(l + "self_attn.o_proj", s.Hidden, s.Heads * headDim, bias: false);
            w.Linear(l + "mlp.gate_proj", s.Intermediate, s.Hidden, bias: false);
            w.Linear(l + "mlp.up_proj", s.Intermediate, s.Hidden, bias: false);
            w.Linear(l + "mlp.down_proj", s.Hidden, s.Intermediate, bias: false);
            w.Norm(l + "input_layernorm", s.Hidden, bias: false);
            w.Norm(l + "post_attention_layernorm", s.Hidden, bias: false);
        }
        w.Norm("model.norm", s.Hidden, bias: false);
        if (!s.Tied) w.Linear("lm_head", o.VocabSize, s.Hidden, bias: false);

        var config = new JsonObject
        {
            ["architectures"] = new JsonArray(s.Architecture),
            ["model_type"] = s.ModelType,
            ["vocab_size"] = o.VocabSize,
            ["hidden_size"] = s.Hidden,
            ["intermediate_size"] = s.Intermediate,
            ["num_hidden_layers"] = o.Layers,
            ["num_attention_heads"] = s.Heads,
            ["num_key_value_heads"] = s.KvHeads,
            ["hidden_act"] = "silu",
            ["max_position_embeddings"] = o.MaxPositions,
            ["rms_norm_eps"] = s.RmsEps,
            ["rope_theta"] = s.RopeTheta,
            ["rope_scaling"] = null,
            ["tie_word_embeddings"] = s.Tied,
            ["attention_dropout"] = 0.0,
            ["initializer_range"] = 0.02,
            ["use_cache"] = true,
            ["bos_token_id"] = 1,
            ["eos_token_id"] = 2,
        };
        if (s.HeadDim is int explicitHeadDim) config["head_dim"] = explicitHeadDim;
        if (o.PartialRotaryFactor is double factor) config["partial_rotary_factor"] = factor;
        switch (s.ModelType)
        {
            case "llama":
                config["attention_bias"] = false;
                config["mlp_bias"] = false;
                config["pretraining_tp"] = 1;
                break;
            case "mistral": // Mistral-7B-v0.1's window, longer than any test, unless the shape asks for one
                config["sliding_window"] = s.SlidingWindow ?? 4096;
                break;
            case "qwen2": // Qwen2's published configs: the window off; on, it spares layer 0
                config["use_sliding_window"] = s.SlidingWindow is not null;
                config["sliding_window"] = s.SlidingWindow ?? 4096;
                config["max_window_layers"] = s.SlidingWindow is null ? o.Layers : 1;
                break;
        }
        return config;
    }

    /// <summary>transformers' GPT2LMHeadModel (modeling_gpt2.py): names under transformer., Conv1D weights stored (in, out).</summary>
    private static JsonObject Gpt2(WeightBuilder w, TinyCheckpointOptions o, int hidden, int heads)
    {
        int inner = 4 * hidden; // n_inner null
        w.Embedding("transformer.wte.weight", o.VocabSize, hidden);
        w.Embedding("transformer.wpe.weight", o.MaxPositions, hidden);
        for (int i = 0; i < o.Layers; i++)
        {
            string l = $"transformer.h.{i}.";
            w.Norm(l + "ln_1", hidden, bias: true);
            w.Conv1D(l + "attn.c_attn", hidden, 3 * hidden);
            w.Conv1D(l + "attn.c_proj", hidden, hidden);
            w.Norm(l + "ln_2", hidden, bias: true);
            w.Conv1D(l + "mlp.c_fc", hidden, inner);
            w.Conv1D(l + "mlp.c_proj", inner, hidden);
        }
        w.Norm("transformer.ln_f", hidden, bias: true);
        return new JsonObject
        {
            ["architectures"] = new JsonArray("GPT2LMHeadModel"),
            ["model_type"] = "gpt2",
            ["vocab_size"] = o.VocabSize,
            ["n_embd"] = hidden,
            ["n_head"] = heads,
            ["n_layer"] = o.Layers,
            ["n_positions"] = o.MaxPositions,
            ["n_ctx"] = o.MaxPositions,
            ["n_inner"] = null,
            ["activation_function"] = "gelu_new",
            ["layer_norm_epsilon"] = 1e-5,
            ["scale_attn_weights"] = true,
            ["scale_attn_by_inverse_layer_idx"] = false,
            ["reorder_and_upcast_attn"] = false,
            ["tie_word_embeddings"] = true,
            ["resid_pdrop"] = 0.1,
            ["embd_pdrop"] = 0.1,
            ["attn_pdrop"] = 0.1,
            ["initializer_range"] = 0.02,
            ["use_cache"] = true,
            ["bos_token_id"] = o.VocabSize - 1,
            ["eos_token_id"] = o.VocabSize - 1,
        };
    }

    /// <summary>Two shards split by name order at half the bytes, and the index transformers writes beside them.</summary>
    private static void WriteShards(string folder, DType type, IReadOnlyDictionary<string, ReferenceTensor> weights)
    {
        var ordered = weights.OrderBy(w => w.Key, StringComparer.Ordinal).ToList();
        long total = ordered.Sum(w => SafetensorsTestWriter.ByteCount(type, w.Value));
        var first = new List<KeyValuePair<string, ReferenceTensor>>();
        long firstBytes = 0;
        foreach (var entry in ordered)
        {
            if (firstBytes >= total / 2 && first.Count > 0) break;
            first.Add(entry);
            firstBytes += SafetensorsTestWriter.ByteCount(type, entry.Value);
        }
        var second = ordered.Skip(first.Count).ToList();
        const string firstName = "model-00001-of-00002.safetensors", secondName = "model-00002-of-00002.safetensors";
        SafetensorsTestWriter.Write(Path.Combine(folder, firstName), type, first);
        SafetensorsTestWriter.Write(Path.Combine(folder, secondName), type, second);
        var map = new JsonObject();
        foreach (var entry in first) map[entry.Key] = firstName;
        foreach (var entry in second) map[entry.Key] = secondName;
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = map };
        File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Draws tensors in a fixed order from one seeded generator and rounds them to the storage dtype.</summary>
    private sealed class WeightBuilder(DType type, int seed)
    {
        private readonly Random _random = new(seed);
        private readonly Dictionary<string, ReferenceTensor> _tensors = [];

        public IReadOnlyDictionary<string, ReferenceTensor> Tensors => _tensors;

        public void Embedding(string name, int rows, int width) => Add(name, [rows, width], 0.0, 0.7);

        /// <summary>nn.Linear: weight (out, in), optional bias (out).</summary>
        public void Linear(string prefix, int outFeatures, int inFeatures, bool bias)
        {
            string weight = prefix.EndsWith(".weight", StringComparison.Ordinal) ? prefix : prefix + ".weight";
            Add(weight, [outFeatures, inFeatures], 0.0, 1.0 / Math.Sqrt(inFeatures));
            if (bias) Add(prefix + ".bias", [outFeatures], 0.0, 0.1);
        }

        /// <summary>transformers' Conv1D: weight stored (in, out), bias (out).</summary>
        public void Conv1D(string prefix, int inFeatures, int outFeatures)
        {
            Add(prefix + ".weight", [inFeatures, outFeatures], 0.0, 1.0 / Math.Sqrt(inFeatures));
            Add(prefix + ".bias", [outFeatures], 0.0, 0.1);
        }

        public void Norm(string prefix, int width, bool bias)
        {
            Add(prefix + ".weight", [width], 1.0, 0.2);
            if (bias) Add(prefix + ".bias", [width], 0.0, 0.1);
        }

        private void Add(string name, int[] shape, double mean, double deviation)
        {
            var values = new float[shape.Aggregate(1, (count, dim) => count * dim)];
            for (int i = 0; i < values.Length; i++)
            {
                double u1 = 1.0 - _random.NextDouble(), u2 = _random.NextDouble();
                double normal = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
                values[i] = ReferenceRounding.Round(type, (float)(mean + deviation * normal));
            }
            _tensors.Add(name, new ReferenceTensor(shape, values));
        }
    }
}
