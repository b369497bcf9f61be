using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks.OwnData;

/// <summary>The records of a .jsonl file of the jsonl task: one JSON object per non-blank line, each of the dataset's kind.</summary>
internal static class JsonlRecords
{
    /// <summary>The file's examples in file order; each is "name.jsonl:line" by id, so errors downstream name the line too.</summary>
    public static List<TaskExample> Read(string path, RecordKind kind)
    {
        string file = Path.GetFileName(path);
        var examples = new List<TaskExample>();
        JsonFiles.ForEachLine(path, record =>
        {
            string where = record.Where;
            string[] names = [.. record.Names];
            TaskKind detected = RecordFields.Detect(names, where);
            kind.Require(detected, where);
            RecordFields.RequireExactly(detected, names, where, "field");
            string id = file + where[path.Length..];
            examples.Add(detected switch
            {
                TaskKind.Classification => RecordFields.ClassificationExample(id, where, record.String(RecordFields.Prompt),
                    record.Strings(RecordFields.Candidates), record.Integer(RecordFields.Label)),
                TaskKind.Generation => RecordFields.CompletionExample(id, where, record.String(RecordFields.Prompt),
                    record.String(RecordFields.Completion)),
                _ => RecordFields.TextExample(id, where, record.String(RecordFields.Text)),
            });
        });
        if (examples.Count == 0)
            throw TaskDataException.Malformed($"{path}:1", $"the file holds no records (expected one JSON object per line: {RecordFields.Kinds})");
        return examples;
    }
}
