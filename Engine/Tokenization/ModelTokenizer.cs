using System.Security.Cryptography;
using System.Text.Json.Nodes;
using MeZO.Engine.Models;

namespace MeZO.Engine.Tokenization;

/// <summary>
/// A model's tokenizer.json through the Hugging Face tokenizers library, with each family's convention for the first
/// token applied here, explicitly: OPT prepends &lt;/s&gt;, Llama and Mistral prepend &lt;s&gt; (each by its id in the tokenizer
/// file, as transformers' tokenizers do), GPT-2 and Qwen2 add nothing.
/// The file's own post-processor is removed first, so the library never adds special tokens of its own.
/// </summary>
public sealed class ModelTokenizer : IDisposable
{
    private readonly Tokenizers.DotNet.Tokenizer _tokenizer;

    private ModelTokenizer(Tokenizers.DotNet.Tokenizer tokenizer, string path, int? prefixToken)
    {
        _tokenizer = tokenizer;
        FilePath = path;
        PrefixToken = prefixToken;
    }

    /// <summary>The tokenizer.json this was loaded from.</summary>
    public string FilePath { get; }

    /// <summary>The token put before every encoded text, or null for families that add none.</summary>
    public int? PrefixToken { get; }

    public static ModelTokenizer Load(string modelDirectory, ArchitectureSpec spec)
    {
        string path = Path.Combine(modelDirectory, "tokenizer.json");
        if (!File.Exists(path))
            throw new InvalidInputException($"{path}: missing (the model folder needs a Hugging Face tokenizer.json)");
        byte[] bytes = File.ReadAllBytes(path);
        JsonObject json = Parse(path, bytes);
        int? prefix = spec.ModelType switch
        {
            "opt" => TokenId(json, "</s>") ?? spec.EosTokenId ?? 2,
            "llama" or "mistral" => TokenId(json, "<s>") ?? spec.BosTokenId ?? 1,
            _ => null,
        };
        string withoutPostProcessor = WithoutPostProcessor(json, bytes);
        try
        {
            return new ModelTokenizer(new Tokenizers.DotNet.Tokenizer(vocabPath: withoutPostProcessor), path, prefix);
        }
        catch (Tokenizers.DotNet.TokenizerException e)
        {
            throw new InvalidInputException($"{path}: the tokenizers library cannot load it ({e.Message.ReplaceLineEndings(" ")})", e);
        }
    }

    /// <summary>Token ids of <paramref name="text"/>, with the family's prefix token when <paramref name="addPrefix"/>.</summary>
    public int[] Encode(string text, bool addPrefix = true)
    {
        uint[] raw = text.Length == 0 ? [] : _tokenizer.Encode(text);
        int offset = addPrefix && PrefixToken is not null ? 1 : 0;
        var ids = new int[raw.Length + offset];
        if (offset == 1) ids[0] = PrefixToken!.Value;
        for (int i = 0; i < raw.Length; i++) ids[offset + i] = checked((int)raw[i]);
        return ids;
    }

    /// <summary>
    /// The text of <paramref name="ids"/>. An id past the tokenizer's vocabulary decodes to nothing, as in transformers:
    /// models pad their embedding table beyond it (OPT: 50272 rows for 50265 tokens). A negative id is an error.
    /// </summary>
    public string Decode(IReadOnlyList<int> ids)
    {
        if (ids.Count == 0) return "";
        var raw = new uint[ids.Count];
        for (int i = 0; i < raw.Length; i++)
        {
            if (ids[i] < 0) throw new InvalidInputException($"{FilePath}: token id {ids[i]} is negative");
            raw[i] = (uint)ids[i];
        }
        return _tokenizer.Decode(raw);
    }

    private static JsonObject Parse(string path, byte[] bytes)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(bytes);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidInputException($"{path}: not valid JSON ({e.Message.ReplaceLineEndings(" ")})");
        }
        if (root is not JsonObject json || json["model"] is null)
            throw new InvalidInputException($"{path}: not a Hugging Face tokenizer file (no \"model\" entry)");
        return json;
    }

    /// <summary>
    /// The id of a special token by its text, as the tokenizer itself defines it (its added tokens, then its model's
    /// vocabulary). transformers' tokenizers add their own bos_token, which wins over config.json's bos_token_id
    /// where the two disagree (hf-internal-testing's tiny Llama names id 0, which is &lt;unk&gt; in its tokenizer).
    /// </summary>
    private static int? TokenId(JsonObject json, string token)
    {
        if (json["added_tokens"] is JsonArray added)
            foreach (var entry in added.OfType<JsonObject>())
                if (entry["content"] is JsonValue content && content.TryGetValue(out string? text) && text == token &&
                    entry["id"] is JsonValue id && id.TryGetValue(out int value))
                    return value;
        switch (json["model"]?["vocab"])
        {
            case JsonObject vocabulary when vocabulary[token] is JsonValue id && id.TryGetValue(out int value):
                return value;
            case JsonArray pieces: // Unigram: [[piece, score], ...], the id is the index
                for (int i = 0; i < pieces.Count; i++)
                    if (pieces[i] is JsonArray piece && piece.Count > 0 && piece[0] is JsonValue p && p.TryGetValue(out string? text) && text == token)
                        return i;
                break;
        }
        return null;
    }

    /// <summary>
    /// Writes (once, into the temp folder, named by content hash) a copy of tokenizer.json without post-processor,
    /// padding or truncation; the binding offers no switch for add_special_tokens.
    /// </summary>
    private static string WithoutPostProcessor(JsonObject json, byte[] bytes)
    {
        json["post_processor"] = null;
        json["padding"] = null;
        json["truncation"] = null;
        string folder = Path.Combine(Path.GetTempPath(), "mezo-tokenizers");
        Directory.CreateDirectory(folder);
        string target = Path.Combine(folder, Convert.ToHexStringLower(SHA256.HashData(bytes))[..32] + ".json");
        if (!File.Exists(target))
        {
            string temporary = target + "." + Guid.NewGuid().ToString("N") + ".tmp";
            File.WriteAllText(temporary, json.ToJsonString());
            File.Move(temporary, target, overwrite: true);
        }
        return target;
    }

    public void Dispose() => _tokenizer.Dispose();
}
