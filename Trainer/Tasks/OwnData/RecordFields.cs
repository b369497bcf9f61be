using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks.OwnData;

/// <summary>
/// The three kinds of record of the jsonl task, as fields (jsonl) or columns (Parquet), and the checks on their values
/// that both file formats share. Each check names where the record was read.
/// </summary>
internal static class RecordFields
{
    public const string Prompt = "prompt", Candidates = "candidates", Label = "label", Completion = "completion", Text = "text";

    public const string Kinds = "{\"prompt\", \"candidates\", \"label\"} (classification), {\"prompt\", \"completion\"} " +
                                "(completion) or {\"text\"} (text)";

    public static IReadOnlyList<string> Of(TaskKind kind) => kind switch
    {
        TaskKind.Classification => [Prompt, Candidates, Label],
        TaskKind.Generation => [Prompt, Completion],
        TaskKind.LanguageModeling => [Text],
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "the jsonl task has no records of this kind"),
    };

    public static string Describe(TaskKind kind) => kind switch
    {
        TaskKind.Classification => "classification",
        TaskKind.Generation => "completion",
        TaskKind.LanguageModeling => "text",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "the jsonl task has no records of this kind"),
    };

    /// <summary>
    /// The kind a record's field names say: "text" makes it text, "completion" a completion, "candidates" or "label" a
    /// classification record. Its other fields are then checked against that kind (<see cref="RequireExactly"/>), so a
    /// record that mixes two kinds is reported as the one with the stray field.
    /// </summary>
    public static TaskKind Detect(IReadOnlyCollection<string> names, string where) =>
        names.Contains(Text) ? TaskKind.LanguageModeling
        : names.Contains(Completion) ? TaskKind.Generation
        : names.Contains(Candidates) || names.Contains(Label) ? TaskKind.Classification
        : throw TaskDataException.Malformed(where,
            $"a record of no known kind (fields: {Join(names)}); expected {Kinds}");

    /// <summary>Throws unless <paramref name="names"/> are exactly the fields of <paramref name="kind"/>.</summary>
    public static void RequireExactly(TaskKind kind, IReadOnlyCollection<string> names, string where, string what)
    {
        IReadOnlyList<string> expected = Of(kind);
        string layout = $"a {Describe(kind)} record has {what}s {Join(expected)}";
        foreach (string name in expected)
            if (!names.Contains(name))
                throw TaskDataException.Malformed(where, $"{what} '{name}' is missing ({layout})");
        foreach (string name in names)
            if (!expected.Contains(name))
                throw TaskDataException.Malformed(where, $"unexpected {what} '{name}' ({layout})");
        // JSON allows a repeated key, and only one of its values would be read.
        if (names.Distinct().Count() != names.Count)
            throw TaskDataException.Malformed(where, $"{what} '{names.GroupBy(n => n).First(g => g.Count() > 1).Key}' appears twice");
    }

    public static TaskExample ClassificationExample(string id, string where, string prompt, IReadOnlyList<string> candidates, long label)
    {
        if (candidates.Count < 2)
            throw TaskDataException.Malformed(where,
                $"'{Candidates}' holds {candidates.Count} candidate{(candidates.Count == 1 ? "" : "s")}; a classification record needs at least two");
        if (label < 0 || label >= candidates.Count)
            throw TaskDataException.Malformed(where,
                $"'{Label}' is {label}, not the index of one of the {candidates.Count} candidates (0 to {candidates.Count - 1})");
        return new TaskExample(id, where, new Dictionary<string, string> { [Prompt] = prompt }, (int)label,
            new Dictionary<string, IReadOnlyList<string>> { [Candidates] = candidates });
    }

    public static TaskExample CompletionExample(string id, string where, string prompt, string completion)
    {
        // An answer of whitespace alone adds no tokens once the text is cleaned as MeZO's templates are (TemplateOutput).
        if (string.IsNullOrWhiteSpace(completion))
            throw TaskDataException.Malformed(where, $"'{Completion}' is empty or whitespace; a completion record needs an answer to learn");
        return new TaskExample(id, where, new Dictionary<string, string> { [Prompt] = prompt, [Completion] = completion });
    }

    public static TaskExample TextExample(string id, string where, string text)
    {
        if (text.Length == 0)
            throw TaskDataException.Malformed(where, $"'{Text}' is empty");
        return new TaskExample(id, where, new Dictionary<string, string> { [Text] = text });
    }

    private static string Join(IEnumerable<string> names) => string.Join(", ", names.Select(name => $"\"{name}\""));
}
