using System.Text.Json;

namespace MeZO.Trainer.Data;

/// <summary>
/// One JSON object of a data file together with where it came from ("val.jsonl:12", "dev-v1.1.json: data[0].paragraphs[3]"),
/// so that every missing or mistyped field is reported with its file and line or path. Valid only while the
/// <see cref="JsonDocument"/> it was read from is alive.
/// </summary>
internal readonly struct JsonRecord
{
    private readonly JsonElement element;

    public JsonRecord(JsonElement element, string where)
    {
        this.element = element;
        Where = where;
        if (element.ValueKind != JsonValueKind.Object)
            throw TaskDataException.Malformed(where, $"expected a JSON object, found {Describe(element)}");
    }

    /// <summary>File and line (jsonl) or file and JSON path (json) of this object.</summary>
    public string Where { get; }

    public bool Has(string name) => element.TryGetProperty(name, out _);

    /// <summary>The object's field names, in file order.</summary>
    public IEnumerable<string> Names => element.EnumerateObject().Select(property => property.Name);

    public JsonElement Property(string name) =>
        element.TryGetProperty(name, out JsonElement value)
            ? value
            : throw TaskDataException.Malformed(Where, $"field '{name}' is missing");

    public string String(string name)
    {
        JsonElement value = Property(name);
        return value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw TaskDataException.Malformed(Where, $"field '{name}' should be a string, found {Describe(value)}");
    }

    /// <summary>The field as a string, or <paramref name="fallback"/> when it is absent (as Python's dict.get does).</summary>
    public string StringOr(string name, string fallback) => Has(name) ? String(name) : fallback;

    /// <summary>An integer field (SuperGLUE's idx, MultiRC's 0/1 labels), returned as written.</summary>
    public long Integer(string name)
    {
        JsonElement value = Property(name);
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out long number)
            ? number
            : throw TaskDataException.Malformed(Where, $"field '{name}' should be an integer, found {Describe(value)}");
    }

    /// <summary>An integer field that indexes into a text (WSC's word indices, ReCoRD's character offsets): it must fit an int.</summary>
    public int Int32(string name)
    {
        long number = Integer(name);
        return number is >= int.MinValue and <= int.MaxValue
            ? (int)number
            : throw TaskDataException.Malformed(Where, $"field '{name}' is {number}, out of range for a text position");
    }

    public JsonRecord Object(string name) => new(Property(name), $"{Where} {name}");

    /// <summary>The objects of an array field, each with its index in <see cref="Where"/>.</summary>
    public List<JsonRecord> Objects(string name)
    {
        JsonElement value = Property(name);
        if (value.ValueKind != JsonValueKind.Array)
            throw TaskDataException.Malformed(Where, $"field '{name}' should be an array, found {Describe(value)}");
        var records = new List<JsonRecord>(value.GetArrayLength());
        int index = 0;
        foreach (JsonElement item in value.EnumerateArray())
            records.Add(new JsonRecord(item, $"{Where} {name}[{index++}]"));
        return records;
    }

    public List<string> Strings(string name)
    {
        JsonElement value = Property(name);
        if (value.ValueKind != JsonValueKind.Array)
            throw TaskDataException.Malformed(Where, $"field '{name}' should be an array of strings, found {Describe(value)}");
        var strings = new List<string>(value.GetArrayLength());
        foreach (JsonElement item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
                throw TaskDataException.Malformed(Where, $"field '{name}' should hold only strings, found {Describe(item)}");
            strings.Add(item.GetString()!);
        }
        return strings;
    }

    /// <summary>A short description of a JSON value for error messages: its kind and, for scalars, its text.</summary>
    public static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "the string " + Quote(value.GetString()!),
        _ => value.GetRawText(),
    };

    private static string Quote(string text) =>
        JsonSerializer.Serialize(text.Length > 40 ? text[..40] + "…" : text);
}
