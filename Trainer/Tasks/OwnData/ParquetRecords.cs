using MeZO.Trainer.Data;
using Parquet;
using Parquet.Data;
using Parquet.Schema;

namespace MeZO.Trainer.Tasks.OwnData;

/// <summary>
/// The records of a .parquet file of the jsonl task, as Hugging Face datasets writes them (Dataset.to_parquet): one
/// column per field, strings as UTF-8 byte arrays, candidates as a list of strings, the label as a 32- or 64-bit integer
/// (a ClassLabel column is int64). Rows are numbered from 1 across row groups in errors and ids.
/// </summary>
internal static class ParquetRecords
{
    public static List<TaskExample> Read(string path, RecordKind kind)
    {
        try
        {
            return ReadAsync(path, kind).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not TaskDataException and not OutOfMemoryException)
        {
            // Parquet.Net reports a damaged file with whatever exception its decoder meets; the user needs the file named.
            throw new TaskDataException($"{path}: not a readable Parquet file ({e.GetType().Name}: {e.Message})", e);
        }
    }

    private static async Task<List<TaskExample>> ReadAsync(string path, RecordKind kind)
    {
        await using ParquetReader reader = await ParquetReader.CreateAsync(path);
        Field[] columns = [.. reader.Schema.Fields];
        string[] names = [.. columns.Select(column => column.Name)];
        string schemaWhere = $"{path}: columns";
        TaskKind detected = RecordFields.Detect(names, schemaWhere);
        kind.Require(detected, schemaWhere);
        RecordFields.RequireExactly(detected, names, schemaWhere, "column");
        DataField Column(string name) => columns.First(column => column.Name == name) switch
        {
            DataField { MaxRepetitionLevel: 0 } data when name == RecordFields.Label && (data.ClrType == typeof(long) || data.ClrType == typeof(int)) => data,
            DataField { MaxRepetitionLevel: 0 } data when name != RecordFields.Label && IsString(data) => data,
            ListField { Item: DataField { MaxRepetitionLevel: 1 } item } when name == RecordFields.Candidates && IsString(item) => item,
            var other => throw TaskDataException.Malformed(schemaWhere,
                $"column '{name}' holds {Describe(other)}; it should hold {(name == RecordFields.Candidates ? "lists of strings" : name == RecordFields.Label ? "integers" : "strings")}"),
        };
        DataField[] fields = [.. RecordFields.Of(detected).Select(Column)];

        string file = Path.GetFileName(path);
        var examples = new List<TaskExample>();
        for (int group = 0; group < reader.RowGroupCount; group++)
        {
            using ParquetRowGroupReader rows = reader.OpenRowGroupReader(group);
            int count = checked((int)rows.RowCount);
            int first = examples.Count + 1;
            string Where(int row) => $"{path}: row {first + row}";
            string Id(int row) => $"{file}: row {first + row}";
            switch (detected)
            {
                case TaskKind.Classification:
                    string[] prompts = await Strings(rows, fields[0], count, Where);
                    List<string>[] candidates = await Lists(rows, fields[1], count, Where);
                    long[] labels = await Integers(rows, fields[2], count, Where);
                    for (int row = 0; row < count; row++)
                        examples.Add(RecordFields.ClassificationExample(Id(row), Where(row), prompts[row], candidates[row], labels[row]));
                    break;
                case TaskKind.Generation:
                    string[] questions = await Strings(rows, fields[0], count, Where);
                    string[] completions = await Strings(rows, fields[1], count, Where);
                    for (int row = 0; row < count; row++)
                        examples.Add(RecordFields.CompletionExample(Id(row), Where(row), questions[row], completions[row]));
                    break;
                default:
                    string[] texts = await Strings(rows, fields[0], count, Where);
                    for (int row = 0; row < count; row++)
                        examples.Add(RecordFields.TextExample(Id(row), Where(row), texts[row]));
                    break;
            }
        }
        if (examples.Count == 0)
            throw TaskDataException.Malformed(path, "the file holds no rows");
        return examples;
    }

    // Parquet.Net 6 reads UTF-8 columns as ReadOnlyMemory<char> and may declare them as string.
    private static bool IsString(DataField field) => field.ClrType == typeof(ReadOnlyMemory<char>) || field.ClrType == typeof(string);

    /// <summary>A flat string column. Raw reads pack the present values first; the definition levels say which rows are null.</summary>
    private static async Task<string[]> Strings(ParquetRowGroupReader rows, DataField field, int count, Func<int, string> where)
    {
        using RawColumnData<ReadOnlyMemory<char>> raw = await Raw<ReadOnlyMemory<char>>(rows, field);
        var strings = new string[count];
        int next = 0;
        for (int row = 0; row < count; row++)
        {
            if (field.MaxDefinitionLevel > 0 && raw.DefinitionLevels[row] < field.MaxDefinitionLevel)
                throw TaskDataException.Malformed(where(row), $"'{field.Name}' is null");
            strings[row] = raw.Values[next++].ToString();
        }
        return strings;
    }

    private static async Task<long[]> Integers(ParquetRowGroupReader rows, DataField field, int count, Func<int, string> where)
    {
        var integers = new long[count];
        if (field.ClrType == typeof(int))
        {
            using RawColumnData<int> raw = await Raw<int>(rows, field);
            Fill(raw, i => raw.Values[i]);
        }
        else
        {
            using RawColumnData<long> raw = await Raw<long>(rows, field);
            Fill(raw, i => raw.Values[i]);
        }
        return integers;

        void Fill(RawColumnData raw, Func<int, long> value)
        {
            int next = 0;
            for (int row = 0; row < count; row++)
            {
                if (field.MaxDefinitionLevel > 0 && raw.DefinitionLevels[row] < field.MaxDefinitionLevel)
                    throw TaskDataException.Malformed(where(row), $"'{field.Name}' is null");
                integers[row] = value(next++);
            }
        }
    }

    /// <summary>
    /// A list-of-strings column, from its repetition levels (0 starts a row) and definition levels (the maximum: a present
    /// element; one less, when elements are nullable: a null element; lower: an empty or null list, no element).
    /// </summary>
    private static async Task<List<string>[]> Lists(ParquetRowGroupReader rows, DataField item, int count, Func<int, string> where)
    {
        using RawColumnData<ReadOnlyMemory<char>> raw = await Raw<ReadOnlyMemory<char>>(rows, item);
        ReadOnlySpan<int> definitions = raw.DefinitionLevels, repetitions = raw.RepetitionLevels;
        var lists = new List<string>[count];
        int row = -1, next = 0;
        for (int entry = 0; entry < definitions.Length; entry++)
        {
            if (repetitions[entry] == 0)
            {
                if (++row >= count) throw TaskDataException.Malformed(where(count - 1), $"column '{RecordFields.Candidates}' holds more rows than the row group");
                lists[row] = [];
            }
            else if (row < 0)
            {
                throw TaskDataException.Malformed(where(0), $"column '{RecordFields.Candidates}' continues a list before starting one");
            }
            int definition = definitions[entry];
            if (definition == item.MaxDefinitionLevel) lists[row].Add(raw.Values[next++].ToString());
            else if (item.IsNullable && definition == item.MaxDefinitionLevel - 1)
                throw TaskDataException.Malformed(where(row), $"'{RecordFields.Candidates}' holds a null candidate");
        }
        if (row != count - 1)
            throw TaskDataException.Malformed(where(Math.Max(0, row)), $"column '{RecordFields.Candidates}' holds {row + 1} rows, the row group {count}");
        return lists;
    }

    /// <summary>A column's values and levels as stored, typed as the schema declared them.</summary>
    private static async Task<RawColumnData<T>> Raw<T>(ParquetRowGroupReader rows, DataField field) where T : struct
    {
        RawColumnData raw = await rows.ReadRawColumnDataBaseAsync(field);
        if (raw is RawColumnData<T> typed) return typed;
        raw.Dispose();
        throw new InvalidDataException($"column '{field.Name}' decoded as {raw.GetType().Name}, not as its declared {typeof(T).Name}");
    }

    private static string Describe(Field field) => field switch
    {
        DataField { MaxRepetitionLevel: > 0 } data => $"repeated {Type(data)}",
        DataField data => Type(data),
        ListField { Item: DataField item } => $"lists of {Type(item)}",
        ListField => "lists of nested values",
        _ => $"a {field.SchemaType.ToString().ToLowerInvariant()}",
    };

    private static string Type(DataField field) => IsString(field) ? "strings" : field.ClrType.Name;
}
