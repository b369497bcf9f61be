using System.Text.Json;
using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>Reads a label field and maps it to the index of its candidate, rejecting anything outside the verbalizer.</summary>
internal static class Labels
{
    /// <summary>A string label (RTE's "entailment", CB's "neutral"): its position in <paramref name="names"/>.</summary>
    public static int Named(JsonRecord record, string field, IReadOnlyList<string> names)
    {
        JsonElement value = record.Property(field);
        int index = value.ValueKind == JsonValueKind.String ? IndexOf(names, value.GetString()!) : -1;
        return index >= 0
            ? index
            : throw TaskDataException.LabelOutsideVerbalizer(record.Where, Raw(value), names.Select(Quote));
    }

    /// <summary>A JSON boolean label (BoolQ, WSC, WiC).</summary>
    public static bool Boolean(JsonRecord record, string field)
    {
        JsonElement value = record.Property(field);
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw TaskDataException.LabelOutsideVerbalizer(record.Where, Raw(value), ["true", "false"]),
        };
    }

    /// <summary>A 0/1 label (MultiRC's answers, COPA's choice); MultiRC's true/false spelling is accepted too.</summary>
    public static int ZeroOrOne(JsonRecord record, string field)
    {
        JsonElement value = record.Property(field);
        return value.ValueKind switch
        {
            JsonValueKind.Number when value.TryGetInt32(out int number) && number is 0 or 1 => number,
            JsonValueKind.True => 1,
            JsonValueKind.False => 0,
            _ => throw TaskDataException.LabelOutsideVerbalizer(record.Where, Raw(value), ["0", "1"]),
        };
    }

    private static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (int i = 0; i < names.Count; i++)
            if (string.Equals(names[i], name, StringComparison.Ordinal)) return i;
        return -1;
    }

    private static string Quote(string name) => $"\"{name}\"";

    /// <summary>The label as written in the file (a JSON literal: "maybe", 2, true), shortened if long.</summary>
    private static string Raw(JsonElement value)
    {
        string text = value.GetRawText();
        return text.Length > 40 ? text[..40] + "…" : text;
    }
}
