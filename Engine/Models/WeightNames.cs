namespace MeZO.Engine.Models;

/// <summary>The Hugging Face tensor names of one architecture, as functions of the layer index.</summary>
public sealed record WeightNames
{
    /// <summary>Prefix of the decoder stack ("model.", "model.decoder.", "transformer."); resolved against the checkpoint.</summary>
    public required string Prefix { get; init; }

    /// <summary>
    /// The decoder stack's module path in transformers ("model.decoder." for OPT even when the checkpoint's tensors
    /// say "decoder."): adapters are named after modules, whatever prefix the checkpoint's tensors were saved with.
    /// </summary>
    public string ModulePrefix
    {
        get => _modulePrefix ?? Prefix;
        init => _modulePrefix = value;
    }

    private readonly string? _modulePrefix;
    public required string TokenEmbedding { get; init; }
    public string? PositionEmbedding { get; init; }
    public string? ProjectIn { get; init; }
    public string? ProjectOut { get; init; }
    public string? FinalNorm { get; init; }
    /// <summary>Not under <see cref="Prefix"/>: "lm_head" in every supported family.</summary>
    public string LmHead { get; init; } = "lm_head";

    public required string LayerFormat { get; init; }
    public required string AttentionNorm { get; init; }
    public required string MlpNorm { get; init; }
    /// <summary>Separate projections (q, k, v), or one fused (GPT-2's c_attn) in <see cref="FusedQkv"/>.</summary>
    public string? Query { get; init; }
    public string? Key { get; init; }
    public string? Value { get; init; }
    public string? FusedQkv { get; init; }
    public required string AttentionOutput { get; init; }
    /// <summary>Dense MLP: Up = fc1/c_fc, Down = fc2/c_proj. Gated MLP: Gate, Up, Down.</summary>
    public string? Gate { get; init; }
    public required string Up { get; init; }
    public required string Down { get; init; }

    public string Layer(int index, string module) => Prefix + string.Format(LayerFormat, index) + module;
    public string Global(string module) => Prefix + module;

    /// <summary>A layer module's path in transformers' module tree (<see cref="ModulePrefix"/>), e.g. model.layers.0.self_attn.q_proj.</summary>
    public string LayerModule(int index, string module) => ModulePrefix + string.Format(LayerFormat, index) + module;
}
