using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Verification;

/// <summary>
/// Four tiny random checkpoints that between them use every op: OPT (learned positions, LayerNorm, ReLU, biases),
/// Llama (RoPE, RMSNorm, SiLU·up, grouped-query attention, BF16 weights), GPT-2 (Conv1D's transposed weights, the
/// fused q/k/v split, tanh GELU, F16 weights) and Qwen2 with a sliding window of 5 in its layers 1 and 2 (shorter than
/// the 9-token sequences ModelParity runs) and full attention in layer 0. Widths are not multiples of 32 where the
/// architecture allows it.
/// </summary>
public static class TinyModels
{
    private const ulong Seed = 20240607;

    public static IReadOnlyList<(string Name, string Config, DType Type)> All { get; } =
    [
        ("tiny-opt", """
            {"model_type": "opt", "architectures": ["OPTForCausalLM"], "vocab_size": 301, "hidden_size": 48,
             "num_hidden_layers": 2, "ffn_dim": 100, "num_attention_heads": 3, "max_position_embeddings": 64,
             "do_layer_norm_before": true, "word_embed_proj_dim": 48, "activation_function": "relu", "enable_bias": true,
             "bos_token_id": 2, "eos_token_id": 2, "pad_token_id": 1}
            """, DType.F32),
        ("tiny-llama", """
            {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 263, "hidden_size": 64,
             "intermediate_size": 88, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "hidden_act": "silu", "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
             "rope_scaling": null, "tie_word_embeddings": false, "attention_bias": false, "mlp_bias": false,
             "bos_token_id": 1, "eos_token_id": 2}
            """, DType.BF16),
        ("tiny-gpt2", """
            {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 257, "n_embd": 40, "n_head": 5,
             "n_layer": 2, "n_positions": 64, "n_ctx": 64, "n_inner": null, "activation_function": "gelu_new",
             "layer_norm_epsilon": 1e-5, "tie_word_embeddings": true, "bos_token_id": 256, "eos_token_id": 256}
            """, DType.F16),
        ("tiny-qwen2-window", """
            {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "vocab_size": 251, "hidden_size": 40,
             "intermediate_size": 72, "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
             "hidden_act": "silu", "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
             "tie_word_embeddings": false, "use_sliding_window": true, "sliding_window": 5, "max_window_layers": 1,
             "bos_token_id": 1, "eos_token_id": 2}
            """, DType.F32),
    ];

    /// <summary>Writes the checkpoints under <paramref name="folder"/> and returns their folders.</summary>
    public static IReadOnlyList<string> Write(string folder)
    {
        var written = new List<string>();
        foreach (var (name, config, type) in All)
        {
            string directory = Path.Combine(folder, name);
            SyntheticCheckpoint.Write(directory, config, type, Seed);
            written.Add(directory);
        }
        return written;
    }
}
