using System.Text.Json;

namespace MeZO.Engine;

/// <summary>
/// System.Text.Json parses a document without decoding its strings, so a string or key that is not text — invalid
/// UTF-8, or an escaped lone UTF-16 surrogate such as \ud800 — passes JsonDocument.Parse and throws
/// InvalidOperationException later, from whichever GetString or TryGetProperty meets it. Readers of user files check a
/// parsed document once with <see cref="Problem"/> and refuse it with a line naming the file.
/// </summary>
public static class JsonText
{
    /// <summary>What is wrong with the first string or key that is not text, with its JSON path; null when all are text.</summary>
    public static string? Problem(JsonElement root)
    {
        if (FindUndecodable(root) is not { } path) return null;
        string what = path.EndsWith(KeyMark, StringComparison.Ordinal) ? $"a key of ${path[..^KeyMark.Length]}" : $"the string at ${path}";
        return $"{what} is not text (invalid UTF-8, or an escaped lone surrogate such as \\ud800)";
    }

    // Ends the path of an object whose key does not decode (a key has no path of its own).
    private const string KeyMark = "\0key";

    // The path is built on the way back up from a bad string, so a well-formed document allocates no paths.
    private static string? FindUndecodable(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                return Decodes(() => element.GetString()) ? null : "";
            case JsonValueKind.Object:
                foreach (JsonProperty property in element.EnumerateObject())
                {
                    if (!Decodes(() => property.Name)) return KeyMark;
                    if (FindUndecodable(property.Value) is { } inner) return $".{property.Name}{inner}";
                }
                return null;
            case JsonValueKind.Array:
                int index = 0;
                foreach (JsonElement item in element.EnumerateArray())
                {
                    if (FindUndecodable(item) is { } inner) return $"[{index}]{inner}";
                    index++;
                }
                return null;
            default:
                return null;
        }
    }

    private static bool Decodes(Func<string?> read)
    {
        try
        {
            read();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
