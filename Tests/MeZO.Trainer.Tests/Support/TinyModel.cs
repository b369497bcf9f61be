using System.Globalization;
using System.Text.Json;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Trainer.Tests.Support;

/// <summary>
/// Tiny OPT model folders for the trainer tests: random weights from <see cref="SyntheticCheckpoint"/> and a word-level
/// tokenizer.json over a given vocabulary (ids 0–3 are &lt;s&gt; &lt;pad&gt; &lt;/s&gt; &lt;unk&gt;, as OPT numbers them).
/// </summary>
internal static class TinyModel
{
    public static readonly string[] Specials = ["<s>", "<pad>", "</s>", "<unk>"];

    /// <summary>An OPT config.json (pre-LN, ReLU, biases, tied head) with the given sizes.</summary>
    public static string OptConfig(int vocabulary, int hidden, int layers, int ffn, int heads, int positions) =>
        string.Create(CultureInfo.InvariantCulture, $$"""
            {
              "model_type": "opt", "architectures": ["OPTForCausalLM"], "vocab_size": {{vocabulary}}, "hidden_size": {{hidden}},
              "num_hidden_layers": {{layers}}, "ffn_dim": {{ffn}}, "num_attention_heads": {{heads}}, "max_position_embeddings": {{positions}},
              "do_layer_norm_before": true, "word_embed_proj_dim": {{hidden}}, "activation_function": "relu", "enable_bias": true,
              "bos_token_id": 2, "eos_token_id": 2, "pad_token_id": 1, "torch_dtype": "float32"
            }
            """);

    /// <summary>
    /// Writes config.json, model.safetensors and tokenizer.json. <paramref name="words"/> follow the special tokens;
    /// with <paramref name="newlineToken"/> "\n" is a word of its own (so generation can stop at it), otherwise all
    /// whitespace separates words and disappears.
    /// </summary>
    public static void Write(string directory, string configJson, DType dtype, ulong seed, IReadOnlyList<string> words, bool newlineToken = false)
    {
        SyntheticCheckpoint.Write(directory, configJson, dtype, seed);
        var vocab = new Dictionary<string, int>();
        foreach (string token in Specials.Concat(words)) vocab[token] = vocab.Count;
        object preTokenizer = newlineToken
            ? new Dictionary<string, object> { ["type"] = "Split", ["pattern"] = new Dictionary<string, string> { ["Regex"] = "\n|[^\\s]+" }, ["behavior"] = "Removed", ["invert"] = true }
            : new Dictionary<string, object> { ["type"] = "WhitespaceSplit" };
        var tokenizer = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = Specials.Select((s, i) => new Dictionary<string, object>
            {
                ["id"] = i, ["content"] = s, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = true,
            }).ToArray(),
            ["normalizer"] = null,
            ["pre_tokenizer"] = preTokenizer,
            ["post_processor"] = null,
            ["decoder"] = null,
            ["model"] = new Dictionary<string, object> { ["type"] = "WordLevel", ["vocab"] = vocab, ["unk_token"] = "<unk>" },
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), JsonSerializer.Serialize(tokenizer));
    }

    /// <summary>The tensor names stored in a model folder's model.safetensors, read from its header.</summary>
    public static IReadOnlyList<string> StoredTensorNames(string directory)
    {
        using var file = File.OpenRead(Path.Combine(directory, "model.safetensors"));
        var length = new byte[8];
        file.ReadExactly(length);
        var header = new byte[BitConverter.ToInt64(length)];
        file.ReadExactly(header);
        using var json = JsonDocument.Parse(header);
        return json.RootElement.EnumerateObject().Select(p => p.Name).Where(n => n != "__metadata__").ToArray();
    }
}
