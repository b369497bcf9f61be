using MeZO.Engine.Backends;

namespace MeZO.Engine.Models;

public enum NormKind
{
    LayerNorm,
    RmsNorm,
}

public enum PositionKind
{
    /// <summary>A learned table added to the token embeddings (OPT, GPT-2).</summary>
    Learned,
    /// <summary>Rotary embeddings applied to queries and keys (Llama family).</summary>
    Rotary,
}

public enum MlpKind
{
    /// <summary>fc1 → activation → fc2.</summary>
    Dense,
    /// <summary>down(act(gate(x)) · up(x)).</summary>
    Gated,
}

/// <summary>
/// Everything that distinguishes one supported architecture from another, as data. One <see cref="Transformer"/>
/// reads it; there is no class per model. Built from config.json by <see cref="ModelConfigReader"/>.
/// Shape vocabulary: V vocabulary, C hidden width, L layers, H query heads, KVH key/value heads, D head width,
/// F MLP width, E = word embedding width (OPT's word_embed_proj_dim; C elsewhere).
/// </summary>
public sealed record ArchitectureSpec
{
    public required string ModelType { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int IntermediateSize { get; init; }
    public required int MaxPositions { get; init; }

    public required NormKind Norm { get; init; }
    public required float NormEps { get; init; }
    /// <summary>True for pre-LN blocks; OPT-350m (do_layer_norm_before: false) normalises after each residual add.</summary>
    public bool PreNorm { get; init; } = true;
    /// <summary>Whether a norm follows the last block (absent in post-LN OPT).</summary>
    public bool FinalNorm { get; init; } = true;
    /// <summary>LayerNorm with a bias (OPT, GPT-2); RMSNorm never has one.</summary>
    public bool NormBias { get; init; }

    public required PositionKind Positions { get; init; }
    /// <summary>OPT's learned positions start at row 2 of the table.</summary>
    public int LearnedPositionOffset { get; init; }
    /// <summary>Rotary width R (even, at most D); 0 for learned positions.</summary>
    public int RotaryDim { get; init; }

    /// <summary>rope_theta and rope_scaling as config.json gives them; null for learned positions.</summary>
    internal RopeFrequencies? Rope { get; init; }

    /// <summary>
    /// Rotary inverse frequencies (R/2 of them), scaling already applied; empty for learned positions. Computed at each
    /// call (the model keeps its copy on the backend), never while config.json alone vouches for R.
    /// </summary>
    public float[] RopeInvFrequencies() => Rope?.Compute(RotaryDim) ?? [];

    public required MlpKind Mlp { get; init; }
    public required ActivationKind Activation { get; init; }

    public bool QkvBias { get; init; }
    public bool OutputBias { get; init; }
    public bool MlpBias { get; init; }
    public bool TiedLmHead { get; init; }

    /// <summary>OPT's word_embed_proj_dim when it differs from the hidden width (project_in/project_out exist).</summary>
    public int WordEmbeddingSize { get; init; }
    public bool HasEmbeddingProjection => WordEmbeddingSize != HiddenSize;

    /// <summary>GPT-2 stores Conv1D weights (in, out) — transposed relative to nn.Linear — and one fused c_attn.</summary>
    public bool TransposedWeights { get; init; }
    public bool FusedQkv { get; init; }

    /// <summary>GPT-2's scale_attn_by_inverse_layer_idx: scores are further divided by layer + 1.</summary>
    public bool ScaleAttentionByLayer { get; init; }
    /// <summary>GPT-2's scale_attn_weights: false means no 1/sqrt(D) scaling.</summary>
    public bool ScaleAttention { get; init; } = true;

    /// <summary>
    /// Mistral-style sliding window: in a layer that uses it, query position i attends keys j with i − j &lt; window
    /// (transformers' sliding_window); null when no layer has one.
    /// </summary>
    public int? SlidingWindow { get; init; }

    /// <summary>
    /// Per layer (L entries when <see cref="SlidingWindow"/> is set, else none): whether it attends through the window
    /// (transformers' layer_types "sliding_attention"). Mistral: every layer; Qwen2: as config.json says.
    /// </summary>
    public IReadOnlyList<bool> SlidingLayers { get; init; } = [];

    public int? BosTokenId { get; init; }
    public int? EosTokenId { get; init; }
    public int? PadTokenId { get; init; }

    public required WeightNames Names { get; init; }

    /// <summary>How config.json names the sizes above, for errors.</summary>
    public ConfigKeys Keys { get; init; } = ConfigKeys.Llama;

    // Checked: config.json's values are the user's; ModelConfigReader touches each of these once, so an overflow is
    // reported there, naming config.json, and cannot happen later.
    public int QueryWidth => checked(NumHeads * HeadDim);
    public int KvWidth => checked(NumKvHeads * HeadDim);
    /// <summary>GPT-2's fused c_attn output: q, k and v side by side.</summary>
    public int FusedQkvWidth => checked(3 * HiddenSize);
    /// <summary>Rows of a learned position table: OPT's starts at row 2.</summary>
    public int PositionRows => checked(MaxPositions + LearnedPositionOffset);

    /// <summary>The attention window of a layer, as IBackend.Attention takes it: 0 for full causal attention.</summary>
    public int AttentionWindow(int layer) => SlidingWindow is int window && SlidingLayers[layer] ? window : 0;

    public float AttentionScale(int layer)
    {
        float scale = ScaleAttention ? 1f / MathF.Sqrt(HeadDim) : 1f;
        return ScaleAttentionByLayer ? scale / (layer + 1) : scale;
    }

    /// <summary>Positions per architecture from the padding mask: real tokens count 0, 1, 2, … from their first real token.</summary>
    public int PositionOf(int realTokensBefore, bool isPadding) => Positions == PositionKind.Learned && ModelType == "opt"
        ? (isPadding ? -1 : realTokensBefore) + LearnedPositionOffset // OPT: cumsum(mask)·mask − 1 + 2
        : isPadding ? 1 : realTokensBefore;                           // what transformers' generate passes

    /// <summary>
    /// The position of every token of a padded batch (B·T), each sequence counted from its first real token, after
    /// <paramref name="prefixTokens"/> cache positions (a prefix: transformers numbers tokens after a cache of length P).
    /// </summary>
    internal int[] PositionsOf(TokenBatch batch, int prefixTokens = 0)
    {
        var positions = new int[batch.Ids.Length];
        for (int b = 0; b < batch.BatchSize; b++)
        {
            int real = prefixTokens;
            for (int t = 0; t < batch.Length; t++)
            {
                int i = b * batch.Length + t;
                bool isReal = batch.Mask[i] != 0;
                positions[i] = PositionOf(real, !isReal);
                if (isReal) real++;
            }
        }
        return positions;
    }
}
