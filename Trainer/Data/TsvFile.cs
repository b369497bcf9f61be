namespace MeZO.Trainer.Data;

/// <summary>
/// Reads a GLUE-style tab-separated file: a header line naming the columns, then one row per line with exactly as many
/// fields. There is no quoting (GLUE is read with csv.QUOTE_NONE): a quote character is text.
/// </summary>
internal static class TsvFile
{
    /// <summary>One data row: its fields by column name and where it was read ("train.tsv:17").</summary>
    public readonly record struct Row(string Where, IReadOnlyDictionary<string, string> Fields);

    /// <summary>The rows of <paramref name="path"/>; the header must name every column in <paramref name="required"/>.</summary>
    public static List<Row> Read(string path, params string[] required)
    {
        using IEnumerator<string> lines = File.ReadLines(path).GetEnumerator();
        if (!lines.MoveNext())
            throw TaskDataException.Malformed($"{path}:1", $"the file is empty (expected a header line: {string.Join("<TAB>", required)})");
        string[] header = lines.Current.Split('\t');
        foreach (string column in required)
        {
            if (!header.Contains(column))
                throw TaskDataException.Malformed($"{path}:1",
                    $"the header has no column '{column}' (found: {string.Join(", ", header)}; expected a header line naming {string.Join(" and ", required)})");
        }

        var rows = new List<Row>();
        int lineNumber = 1;
        while (lines.MoveNext())
        {
            lineNumber++;
            string line = lines.Current;
            if (line.Length == 0) continue;
            string[] fields = line.Split('\t');
            string where = $"{path}:{lineNumber}";
            if (fields.Length != header.Length)
                throw TaskDataException.Malformed(where, $"expected {header.Length} tab-separated fields, found {fields.Length}");
            var byName = new Dictionary<string, string>(header.Length, StringComparer.Ordinal);
            for (int i = 0; i < header.Length; i++) byName[header[i]] = fields[i];
            rows.Add(new Row(where, byName));
        }
        return rows;
    }
}
