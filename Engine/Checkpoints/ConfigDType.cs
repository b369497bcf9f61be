using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Checkpoints;

/// <summary>
/// config.json's dtype entry made to say what the folder's weights are stored in: a float32 checkpoint trained with
/// `--dtype bf16` is saved as a bfloat16 model, and transformers (torch_dtype="auto") loads it as its config says.
/// </summary>
internal static class ConfigDType
{
    public const string FileName = "config.json";

    private static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        // The config's strings are written back as they were, not \u-escaped.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The floating-point dtype holding most of the tensors' elements; null when none is floating-point.</summary>
    public static DType? Dominant(IEnumerable<TensorToWrite> tensors) =>
        tensors.Where(t => t.DType.IsFloatingPoint())
            .GroupBy(t => t.DType)
            .OrderByDescending(g => g.Sum(t => t.ElementCount))
            .Select(g => (DType?)g.Key)
            .FirstOrDefault();

    /// <summary>
    /// The config at <paramref name="path"/> with torch_dtype set to <paramref name="dtype"/>, and "dtype" too where
    /// present (its name from transformers 4.56 on); null when the config already says so, so it is copied unchanged.
    /// </summary>
    /// <exception cref="InvalidInputException">the file is not a JSON object.</exception>
    public static string? Rewrite(string path, DType dtype)
    {
        JsonObject config;
        try
        {
            config = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                     ?? throw new InvalidInputException($"{path}: not a JSON object; the saved dtype cannot be recorded in it");
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: not valid JSON, so the saved dtype cannot be recorded in it ({e.Message})");
        }
        string name = dtype.TorchName();
        string[] keys = config.ContainsKey("dtype") ? ["torch_dtype", "dtype"] : ["torch_dtype"];
        if (keys.All(k => config[k] is JsonValue v && v.TryGetValue(out string? s) && s == name)) return null;
        foreach (string key in keys) config[key] = name;
        return config.ToJsonString(Indented) + "\n";
    }
}
