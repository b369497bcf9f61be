using System.Text.Json;

namespace MeZO.Trainer.Data;

/// <summary>Reads the two JSON layouts of the tasks: one object per line (SuperGLUE jsonl) and one document (SQuAD, DROP).</summary>
internal static class JsonFiles
{
    /// <summary>
    /// Calls <paramref name="read"/> for every non-blank line of a jsonl file, with the 1-based line number in
    /// <see cref="JsonRecord.Where"/>. Line breaks are \n, \r\n or \r, as in Python's text mode that the Hugging Face loaders use.
    /// </summary>
    public static void ForEachLine(string path, Action<JsonRecord> read)
    {
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            string where = $"{path}:{lineNumber}";
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(line);
            }
            catch (JsonException e)
            {
                throw TaskDataException.Malformed(where, $"not a valid JSON object (column {(e.BytePositionInLine ?? 0) + 1})");
            }
            using (document)
            {
                if (Engine.JsonText.Problem(document.RootElement) is { } notText)
                    throw TaskDataException.Malformed(where, notText);
                read(new JsonRecord(document.RootElement, where));
            }
        }
    }

    /// <summary>
    /// Parses a whole JSON file; a syntax error is reported with its 1-based line number. JsonDocument checks the grammar
    /// but not the UTF-8 inside strings (a bad string would fail later, in GetString): the file must have come through
    /// <see cref="DataFolder.Require"/>, which has checked every byte.
    /// </summary>
    public static JsonDocument ReadDocument(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw TaskDataException.Malformed($"{path}:{(e.LineNumber ?? 0) + 1}",
                $"not valid JSON (column {(e.BytePositionInLine ?? 0) + 1})");
        }
        if (Engine.JsonText.Problem(document.RootElement) is { } notText)
        {
            document.Dispose();
            throw TaskDataException.Malformed(path, notText);
        }
        return document;
    }
}
