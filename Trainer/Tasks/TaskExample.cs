namespace MeZO.Trainer.Tasks;

/// <summary>
/// One example as its data file holds it, before any template: the fields MeZO's templates read (the Hugging Face
/// dataset's column names: "sentence", "premise", "passage", …), list fields (ReCoRD's entities, the gold answers of
/// SQuAD and DROP) and the label as an index into the task's candidates. Which fields exist is each task's business; a
/// task renders only the examples it loaded.
/// </summary>
public sealed class TaskExample
{
    private static readonly IReadOnlyDictionary<string, IReadOnlyList<string>> NoLists =
        new Dictionary<string, IReadOnlyList<string>>();

    public TaskExample(string id, string origin, IReadOnlyDictionary<string, string> fields, int? label = null,
        IReadOnlyDictionary<string, IReadOnlyList<string>>? lists = null)
    {
        Id = id;
        Origin = origin;
        Fields = fields;
        Label = label;
        Lists = lists ?? NoLists;
    }

    /// <summary>The dataset's own id (SuperGLUE idx, "paragraph_question_answer" for MultiRC, SQuAD's id, DROP's query_id,
    /// the row number for SST-2); unique within one loaded split.</summary>
    public string Id { get; }

    /// <summary>Where the example was read: "path:line" (jsonl, tsv) or "path: JSON path" (SQuAD, DROP).</summary>
    public string Origin { get; }

    public IReadOnlyDictionary<string, string> Fields { get; }

    public IReadOnlyDictionary<string, IReadOnlyList<string>> Lists { get; }

    /// <summary>The index of the correct candidate (the verbalizer's class, COPA's choice); null where the gold is a list
    /// of answers (ReCoRD, SQuAD, DROP).</summary>
    public int? Label { get; }

    public string Field(string name) =>
        Fields.TryGetValue(name, out string? value)
            ? value
            : throw new KeyNotFoundException($"example {Id} ({Origin}) has no field '{name}'");

    public IReadOnlyList<string> List(string name) =>
        Lists.TryGetValue(name, out IReadOnlyList<string>? value)
            ? value
            : throw new KeyNotFoundException($"example {Id} ({Origin}) has no list '{name}'");

    /// <summary>The label, for tasks whose every example has one.</summary>
    public int RequireLabel() =>
        Label ?? throw new InvalidOperationException($"example {Id} ({Origin}) has no label");

    public override string ToString() => $"{Id} ({Origin})";
}
