using System.Text.Json;

namespace MeZO.Engine.Models;

/// <summary>Typed reads of config.json keys; every failure names the file and the key.</summary>
internal readonly struct ConfigJson(string path, JsonElement root)
{
    public string Path => path;

    public ModelConfigException Error(string problem) => new(path, problem);

    public bool Has(string key) => root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null;

    /// <summary>Whether the key is written at all, null included: where transformers' default differs from an explicit null.</summary>
    public bool Declares(string key) => root.TryGetProperty(key, out _);

    public int Int(string key) => OptionalInt(key) ?? throw Error($"missing required key '{key}'");

    public int? OptionalInt(string key)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i)) return i;
        // Some configs list several eos ids; the first is the one generation stops on by default.
        if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() > 0
            && v[0].ValueKind == JsonValueKind.Number && v[0].TryGetInt32(out int first)) return first;
        throw Error($"'{key}' must be an integer, is {v.GetRawText()}");
    }

    /// <summary>A required size: an integer ≥ 1 (a count or a width; zero or a negative one describes no model).</summary>
    public int PositiveInt(string key) => OptionalPositiveInt(key) ?? throw Error($"missing required key '{key}'");

    public int? OptionalPositiveInt(string key)
    {
        int? value = OptionalInt(key);
        if (value <= 0) throw Error($"'{key}' must be a positive integer, is {value}");
        return value;
    }

    /// <summary>
    /// A number that must be finite and &gt; 0 (an epsilon, a base, a factor), also once rounded to float32 where the
    /// engine computes with it in float32: 1e-50 would round to an epsilon of 0, 1e39 to ∞.
    /// </summary>
    public double PositiveDouble(string key, double fallback, bool asFloat32 = false)
    {
        double value = Double(key, fallback);
        double used = asFloat32 ? (float)value : value;
        if (!(used > 0) || !double.IsFinite(used))
            throw Error($"'{key}' must be a positive finite number{(asFloat32 ? " in float32" : "")}, is {value:R}");
        return value;
    }

    public double Double(string key, double fallback)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        if (v.ValueKind == JsonValueKind.Number) return v.GetDouble();
        throw Error($"'{key}' must be a number, is {v.GetRawText()}");
    }

    public bool Bool(string key, bool fallback)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error($"'{key}' must be true or false, is {v.GetRawText()}"),
        };
    }

    public string String(string key) => StringOrNull(key) ?? throw Error($"missing required key '{key}'");

    public string StringOr(string key, string fallback) => StringOrNull(key) ?? fallback;

    private string? StringOrNull(string key)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        throw Error($"'{key}' must be a string, is {v.GetRawText()}");
    }

    /// <summary>A list of strings, or null when the key is absent or null.</summary>
    public IReadOnlyList<string>? OptionalStrings(string key)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
            return v.EnumerateArray().Select(e => e.GetString()!).ToArray();
        throw Error($"'{key}' must be a list of strings, is {v.GetRawText()}");
    }

    public JsonElement? Object(string key) =>
        root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Object ? v : null;
}
