namespace MeZO.Engine.Tests.Reference;

/// <summary>The tiny random checkpoints <see cref="TinyCheckpoints"/> writes, one per structural variant the engine must handle.</summary>
public enum TinyVariant
{
    /// <summary>OPT-125m style: pre-LN, ReLU, learned positions (offset 2), biases, tied lm_head, final_layer_norm.</summary>
    OptPreLayerNorm,

    /// <summary>OPT-350m style: post-LN (do_layer_norm_before false), word_embed_proj_dim &lt; hidden with project_in/out, no final layer norm.</summary>
    OptPostLayerNorm,

    /// <summary>Llama with grouped-query attention (4 heads, 2 KV heads) and a tied lm_head.</summary>
    LlamaTied,

    /// <summary>Llama with grouped-query attention, an untied lm_head, rope_theta 500000 and rms_norm_eps 1e-5.</summary>
    LlamaUntied,

    /// <summary>Llama whose config gives head_dim explicitly, different from hidden_size / heads (10 vs 6).</summary>
    LlamaExplicitHeadDim,

    /// <summary>Mistral: multi-query attention (1 KV head), rope_theta 1e6, a sliding window longer than any test.</summary>
    Mistral,

    /// <summary>Qwen2: biases on q/k/v (not o), untied lm_head, rope_theta 1e6.</summary>
    Qwen2,

    /// <summary>Mistral with grouped-query attention and sliding_window 4: every layer attends only the last 4 positions.</summary>
    MistralSlidingWindow,

    /// <summary>
    /// Qwen2 with use_sliding_window, sliding_window 4 and max_window_layers 1: layer 0 attends fully, the layers after
    /// it through the window.
    /// </summary>
    Qwen2SlidingWindow,

    /// <summary>GPT-2: Conv1D weights stored transposed (in, out), wte/wpe, ln_f, gelu_new, tied lm_head.</summary>
    Gpt2,
}
