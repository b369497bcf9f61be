using System.Text.Json;
using System.Text.Unicode;
using MeZO.Engine.Backends;

namespace MeZO.Engine.Models;

/// <summary>
/// Reads a Hugging Face config.json into an <see cref="ArchitectureSpec"/>. Keys and defaults follow transformers'
/// configuration classes (OPTConfig, LlamaConfig, MistralConfig, Qwen2Config, GPT2Config); anything we cannot compute
/// exactly is rejected with a line naming the key.
/// </summary>
public static class ModelConfigReader
{
    public static readonly IReadOnlyList<string> SupportedModelTypes = ["opt", "llama", "mistral", "qwen2", "gpt2"];

    public static ArchitectureSpec Read(string modelDirectory)
    {
        string path = Path.Combine(modelDirectory, "config.json");
        if (!Directory.Exists(modelDirectory))
            throw new ModelConfigException(modelDirectory, "model folder does not exist");
        if (!File.Exists(path))
            throw new ModelConfigException(path, "missing (a Hugging Face model folder needs config.json)");
        byte[] bytes = File.ReadAllBytes(path);
        // JsonDocument checks the grammar but not the UTF-8 inside strings; a bad string would fail later, in GetString.
        if (!Utf8.IsValid(bytes))
            throw new ModelConfigException(path, "not valid UTF-8");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new ModelConfigException(path, $"not valid JSON ({e.Message})");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelConfigException(path, "must be a JSON object");
            if (JsonText.Problem(document.RootElement) is { } notText)
                throw new ModelConfigException(path, notText);
            return Parse(new ConfigJson(path, document.RootElement));
        }
    }

    public static ArchitectureSpec Parse(string path, string json)
    {
        using var document = JsonDocument.Parse(json);
        return Parse(new ConfigJson(path, document.RootElement));
    }

    private static ArchitectureSpec Parse(ConfigJson c)
    {
        try
        {
            return ParseChecked(c);
        }
        catch (OverflowException e)
        {
            // The boundary of config.json: whatever size a value drives past 32 bits is the user's number, not a bug.
            throw c.Error($"a size computed from it overflows ({e.Message})");
        }
    }

    private static ArchitectureSpec ParseChecked(ConfigJson c)
    {
        string modelType = c.String("model_type");
        ArchitectureSpec spec = modelType switch
        {
            "opt" => Opt(c),
            "llama" or "mistral" or "qwen2" => LlamaFamily(c, modelType),
            "gpt2" => Gpt2(c),
            _ => throw c.Error($"model_type '{modelType}' is not supported (supported: {string.Join(", ", SupportedModelTypes)})"),
        };
        Validate(c, spec);
        return spec;
    }

    private static ArchitectureSpec Opt(ConfigJson c)
    {
        int hidden = c.PositiveInt("hidden_size");
        int heads = c.PositiveInt("num_attention_heads");
        bool bias = c.Bool("enable_bias", true);
        bool preNorm = c.Bool("do_layer_norm_before", true);
        if (!c.Bool("layer_norm_elementwise_affine", true))
            throw c.Error("layer_norm_elementwise_affine: false is not supported");
        return new ArchitectureSpec
        {
            ModelType = "opt",
            VocabSize = c.PositiveInt("vocab_size"),
            HiddenSize = hidden,
            NumLayers = c.PositiveInt("num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = heads,
            HeadDim = hidden / heads,
            IntermediateSize = c.PositiveInt("ffn_dim"),
            MaxPositions = c.PositiveInt("max_position_embeddings"),
            Norm = NormKind.LayerNorm,
            NormEps = 1e-5f, // OPT's nn.LayerNorm default
            NormBias = true,
            PreNorm = preNorm,
            FinalNorm = preNorm && !c.Bool("_remove_final_layer_norm", false),
            Positions = PositionKind.Learned,
            LearnedPositionOffset = 2,
            Mlp = MlpKind.Dense,
            Activation = Activation(c, "activation_function", "relu"),
            QkvBias = bias,
            OutputBias = bias,
            MlpBias = bias,
            TiedLmHead = c.Bool("tie_word_embeddings", true),
            WordEmbeddingSize = c.OptionalPositiveInt("word_embed_proj_dim") ?? hidden,
            BosTokenId = c.OptionalInt("bos_token_id"),
            EosTokenId = c.OptionalInt("eos_token_id"),
            PadTokenId = c.OptionalInt("pad_token_id"),
            Names = new WeightNames
            {
                Prefix = "model.decoder.",
                TokenEmbedding = "embed_tokens",
                PositionEmbedding = "embed_positions",
                ProjectIn = "project_in",
                ProjectOut = "project_out",
                FinalNorm = "final_layer_norm",
                LayerFormat = "layers.{0}.",
                AttentionNorm = "self_attn_layer_norm",
                MlpNorm = "final_layer_norm",
                Query = "self_attn.q_proj",
                Key = "self_attn.k_proj",
                Value = "self_attn.v_proj",
                AttentionOutput = "self_attn.out_proj",
                Up = "fc1",
                Down = "fc2",
            },
            Keys = ConfigKeys.Opt,
        };
    }

    private static ArchitectureSpec LlamaFamily(ConfigJson c, string modelType)
    {
        int hidden = c.PositiveInt("hidden_size");
        int heads = c.PositiveInt("num_attention_heads");
        int headDim = c.OptionalPositiveInt("head_dim") ?? hidden / heads;
        string act = c.StringOr("hidden_act", "silu");
        if (act != "silu")
            throw c.Error($"hidden_act '{act}' is not supported for {modelType} (only silu)");
        bool qkvBias = modelType == "qwen2" || c.Bool("attention_bias", false);
        int layers = c.PositiveInt("num_hidden_layers");
        var (window, slidingLayers) = SlidingWindow(c, modelType, layers);
        double partial = c.Double("partial_rotary_factor", 1.0);
        if (!(partial > 0 && partial <= 1))
            throw c.Error($"'partial_rotary_factor' must be in (0, 1], is {partial:R}");
        int rotaryDim = (int)(headDim * partial);
        return new ArchitectureSpec
        {
            ModelType = modelType,
            VocabSize = c.PositiveInt("vocab_size"),
            HiddenSize = hidden,
            NumLayers = layers,
            NumHeads = heads,
            NumKvHeads = c.OptionalPositiveInt("num_key_value_heads") ?? heads,
            HeadDim = headDim,
            IntermediateSize = c.PositiveInt("intermediate_size"),
            MaxPositions = c.PositiveInt("max_position_embeddings"),
            Norm = NormKind.RmsNorm,
            NormEps = (float)c.PositiveDouble("rms_norm_eps", 1e-6, asFloat32: true),
            Positions = PositionKind.Rotary,
            RotaryDim = rotaryDim,
            Rope = RopeFrequencies.Read(c),
            Mlp = MlpKind.Gated,
            Activation = ActivationKind.Silu,
            QkvBias = qkvBias,
            OutputBias = modelType != "qwen2" && c.Bool("attention_bias", false),
            MlpBias = c.Bool("mlp_bias", false),
            TiedLmHead = c.Bool("tie_word_embeddings", false),
            WordEmbeddingSize = hidden,
            SlidingWindow = window,
            SlidingLayers = slidingLayers,
            BosTokenId = c.OptionalInt("bos_token_id"),
            EosTokenId = c.OptionalInt("eos_token_id"),
            PadTokenId = c.OptionalInt("pad_token_id"),
            Names = new WeightNames
            {
                Prefix = "model.",
                TokenEmbedding = "embed_tokens",
                FinalNorm = "norm",
                LayerFormat = "layers.{0}.",
                AttentionNorm = "input_layernorm",
                MlpNorm = "post_attention_layernorm",
                Query = "self_attn.q_proj",
                Key = "self_attn.k_proj",
                Value = "self_attn.v_proj",
                AttentionOutput = "self_attn.o_proj",
                Gate = "mlp.gate_proj",
                Up = "mlp.up_proj",
                Down = "mlp.down_proj",
            },
        };
    }

    /// <summary>
    /// The sliding attention window and the layers that use it, as transformers' main branch (the v5 line) defines them:
    /// <list type="bullet">
    /// <item>masking_utils.py: sliding_window_overlay(w) is kv_idx &gt; q_idx − w, and-ed with the causal kv_idx ≤ q_idx,
    /// so a query attends itself and the w − 1 keys before it; q_idx and kv_idx are cache positions (sdpa_mask's
    /// arange + offsets) and the 2D padding mask is and-ed on kv_idx. The flash-attention path passes
    /// window_size (w − 1, 0): the same keys.</item>
    /// <item>Mistral (configuration_mistral.py, modeling_mistral.py): sliding_window defaults to 4096 when config.json
    /// lacks the key, an explicit null means none; when set, every layer uses create_sliding_window_causal_mask and
    /// layer_types is ignored (MistralConfig only warns about it).</item>
    /// <item>Qwen2 (configuration_qwen2.py __post_init__, modeling_qwen2.py): sliding_window (default 4096) is kept only
    /// when use_sliding_window (default false); layer_types, when config.json gives it, says per layer
    /// "full_attention" or "sliding_attention"; otherwise layer i slides when a window is kept and
    /// i ≥ max_window_layers (default 28). Each layer takes the mask of its type; a sliding layer without a window
    /// makes create_sliding_window_causal_mask fail, so it is rejected here.</item>
    /// <item>Llama: LlamaConfig has no window and modeling_llama.py always builds the plain causal mask.</item>
    /// </list>
    /// </summary>
    private static (int? Window, IReadOnlyList<bool> Layers) SlidingWindow(ConfigJson c, string modelType, int layers)
    {
        const int transformersDefault = 4096;
        int? window = c.Declares("sliding_window") ? c.OptionalInt("sliding_window") : transformersDefault;
        IReadOnlyList<bool> sliding;
        switch (modelType)
        {
            case "mistral":
                if (window is null) return (null, []);
                sliding = new LayersFrom(layers, 0);
                break;
            case "qwen2":
                if (!c.Bool("use_sliding_window", false)) window = null;
                if (c.OptionalStrings("layer_types") is { } types)
                {
                    if (types.Count != layers)
                        throw c.Error($"layer_types lists {types.Count} layers, num_hidden_layers is {layers}");
                    sliding = types.Select(t => t switch
                    {
                        "full_attention" => false,
                        "sliding_attention" => true,
                        _ => throw c.Error($"layer_types entry '{t}' is not supported for qwen2 (full_attention, sliding_attention)"),
                    }).ToArray();
                    if (window is null && sliding.Any(s => s))
                        throw c.Error("layer_types has sliding_attention layers but no window is set " +
                                      "(use_sliding_window is false or sliding_window is null)");
                }
                else
                {
                    int firstSliding = c.OptionalInt("max_window_layers") ?? 28;
                    if (window is null || firstSliding >= layers) return (null, []);
                    sliding = new LayersFrom(layers, firstSliding);
                }
                if (sliding is bool[] listed && !listed.Any(s => s)) return (null, []);
                break;
            default:
                return (null, []);
        }
        if (window <= 0) throw c.Error($"sliding_window must be positive, is {window}");
        return (window, sliding);
    }

    private static ArchitectureSpec Gpt2(ConfigJson c)
    {
        int hidden = c.PositiveInt("n_embd");
        int heads = c.PositiveInt("n_head");
        return new ArchitectureSpec
        {
            ModelType = "gpt2",
            VocabSize = c.PositiveInt("vocab_size"),
            HiddenSize = hidden,
            NumLayers = c.PositiveInt("n_layer"),
            NumHeads = heads,
            NumKvHeads = heads,
            HeadDim = hidden / heads,
            IntermediateSize = c.OptionalPositiveInt("n_inner") ?? Size(c, "'n_embd'", () => checked(4 * hidden)),
            MaxPositions = c.PositiveInt("n_positions"),
            Norm = NormKind.LayerNorm,
            NormEps = (float)c.PositiveDouble("layer_norm_epsilon", 1e-5, asFloat32: true),
            NormBias = true,
            Positions = PositionKind.Learned,
            Mlp = MlpKind.Dense,
            Activation = Activation(c, "activation_function", "gelu_new"),
            QkvBias = true,
            OutputBias = true,
            MlpBias = true,
            TiedLmHead = c.Bool("tie_word_embeddings", true),
            WordEmbeddingSize = hidden,
            TransposedWeights = true,
            FusedQkv = true,
            ScaleAttention = c.Bool("scale_attn_weights", true),
            ScaleAttentionByLayer = c.Bool("scale_attn_by_inverse_layer_idx", false),
            BosTokenId = c.OptionalInt("bos_token_id"),
            EosTokenId = c.OptionalInt("eos_token_id"),
            PadTokenId = c.OptionalInt("pad_token_id"),
            Names = new WeightNames
            {
                Prefix = "transformer.",
                TokenEmbedding = "wte",
                PositionEmbedding = "wpe",
                FinalNorm = "ln_f",
                LayerFormat = "h.{0}.",
                AttentionNorm = "ln_1",
                MlpNorm = "ln_2",
                FusedQkv = "attn.c_attn",
                AttentionOutput = "attn.c_proj",
                Up = "mlp.c_fc",
                Down = "mlp.c_proj",
            },
            Keys = ConfigKeys.Gpt2,
        };
    }

    private static ActivationKind Activation(ConfigJson c, string key, string fallback)
    {
        string name = c.StringOr(key, fallback);
        return name switch
        {
            "relu" => ActivationKind.Relu,
            "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => ActivationKind.GeluTanh,
            "gelu" => ActivationKind.GeluErf,
            "silu" or "swish" => ActivationKind.Silu,
            _ => throw c.Error($"{key} '{name}' is not supported (relu, gelu, gelu_new, gelu_pytorch_tanh, silu)"),
        };
    }

    private static void Validate(ConfigJson c, ArchitectureSpec s)
    {
        // The counts and widths config.json gives were each checked positive where they were read; what is left are
        // the sizes derived from them.
        var k = s.Keys;
        if (s.HeadDim <= 0)
            throw c.Error($"'{k.NumHeads}' ({s.NumHeads}) exceeds '{k.HiddenSize}' ({s.HiddenSize}): no width is left per head");
        if (s.NumHeads % s.NumKvHeads != 0)
            throw c.Error($"{s.NumHeads} attention heads are not a multiple of {s.NumKvHeads} key/value heads");
        // OPT and GPT-2 have no head_dim key: their head width is hidden / heads, which must divide. (The Llama family's
        // q/k/v widths are heads · head_dim, whatever the hidden size.)
        if (s.ModelType is "opt" or "gpt2" && s.HiddenSize % s.NumHeads != 0)
            throw c.Error($"hidden size {s.HiddenSize} is not divisible by {s.NumHeads} heads");
        if (s.Positions == PositionKind.Rotary && (s.RotaryDim / 2 == 0 || 2 * (s.RotaryDim / 2) > s.HeadDim))
            throw c.Error($"rotary width {2 * (s.RotaryDim / 2)} does not fit head width {s.HeadDim}");
        Size(c, $"'{k.NumHeads}' × 'head_dim'", () => s.QueryWidth);
        Size(c, "'num_key_value_heads' × 'head_dim'", () => s.KvWidth);
        if (s.FusedQkv) Size(c, $"'{k.HiddenSize}'", () => s.FusedQkvWidth);
        Size(c, $"'{k.MaxPositions}'", () => s.PositionRows);
    }

    /// <summary>A size derived in checked arithmetic; an overflow is an error naming the keys it comes from.</summary>
    private static int Size(ConfigJson c, string keys, Func<int> size)
    {
        try
        {
            return size();
        }
        catch (OverflowException)
        {
            throw c.Error($"{keys} is too large: the sizes it implies overflow 32-bit integers");
        }
    }
}
