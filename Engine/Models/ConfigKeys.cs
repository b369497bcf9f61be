namespace MeZO.Engine.Models;

/// <summary>
/// The config.json keys that hold the sizes a checkpoint's tensors confirm, as each family spells them (GPT-2 writes
/// n_layer where Llama writes num_hidden_layers), so that an error names the key the user would edit.
/// </summary>
public sealed record ConfigKeys(string VocabSize, string HiddenSize, string NumLayers, string NumHeads, string IntermediateSize,
    string MaxPositions, string WordEmbeddingSize)
{
    public static ConfigKeys Llama { get; } =
        new("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings", "hidden_size");

    public static ConfigKeys Opt { get; } =
        new("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "ffn_dim", "max_position_embeddings", "word_embed_proj_dim");

    public static ConfigKeys Gpt2 { get; } = new("vocab_size", "n_embd", "n_layer", "n_head", "n_inner", "n_positions", "n_embd");
}
