using System.Text.Json;
using System.Text.Unicode;

namespace MeZO.Engine.Checkpoints;

/// <summary>
/// model.safetensors.index.json of a sharded Hugging Face checkpoint: {"metadata": {...}, "weight_map": {tensor: file}}.
/// Only weight_map matters for reading; total_size in metadata is informational.
/// </summary>
internal static class ShardIndex
{
    public const string FileName = "model.safetensors.index.json";

    /// <summary>Tensor name → shard file name, in the order the index lists them.</summary>
    public static IReadOnlyDictionary<string, string> ReadWeightMap(string indexPath)
    {
        byte[] json;
        try
        {
            json = File.ReadAllBytes(indexPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException(indexPath, null, $"cannot read the index ({e.Message})", e);
        }
        // JsonDocument checks the grammar but not the UTF-8 inside strings; a bad name would fail later, in GetString.
        if (!Utf8.IsValid(json))
            throw new CheckpointFormatException(indexPath, null, "the index is not valid UTF-8");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(indexPath, null, $"the index is not valid JSON ({e.Message})", e);
        }
        using (document)
        {
            if (JsonText.Problem(document.RootElement) is { } notText)
                throw new CheckpointFormatException(indexPath, null, $"in the index, {notText}");
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException(indexPath, null, "the index is not a JSON object");
            if (!document.RootElement.TryGetProperty("weight_map", out var map))
                throw new CheckpointFormatException(indexPath, null, "the index has no 'weight_map'");
            if (map.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException(indexPath, null, "'weight_map' is not a JSON object");
            var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var item in map.EnumerateObject())
            {
                if (item.Value.ValueKind != JsonValueKind.String)
                    throw new CheckpointFormatException(indexPath, item.Name, "its 'weight_map' value is not a file name string");
                string shard = item.Value.GetString()!;
                if (!IsPlainFileName(shard))
                    throw new CheckpointFormatException(indexPath, item.Name,
                        $"shard '{shard}' is not a file name in the model folder");
                if (weightMap.TryGetValue(item.Name, out string? earlier))
                    throw new CheckpointFormatException(indexPath, item.Name,
                        $"listed twice in 'weight_map' (shards '{earlier}' and '{shard}')");
                weightMap.Add(item.Name, shard);
            }
            return weightMap;
        }
    }

    /// <summary>Shards live beside the index; a path that leaves the folder is not a shard.</summary>
    public static bool IsPlainFileName(string name) =>
        name.Length > 0 && name != "." && name != ".." && name.IndexOfAny(['/', '\\']) < 0 && name.IndexOf('\0') < 0;
}
