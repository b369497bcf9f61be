using System.Globalization;
using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// ReCoRD (SuperGLUE) cast as MeZO's ReCoRDTemplateGPT3: the passage with every "@highlight\n" written as "- ", then
/// "\n-" as the prompt; each candidate is " " + the query with "@placeholder" replaced by one of the passage's entities.
/// Each line of the file is a passage with queries; every query is one example (id: the query's idx).
/// </summary>
/// <remarks>
/// As in the Hugging Face loader, an entity is the passage text from its start to its end offset inclusive (offsets in
/// code points), the candidates are the distinct entity texts and the gold answers the distinct answer texts in sorted
/// order; training teaches the first of them, and predicting any of them counts as correct. The loader keeps the entities
/// in a Python set, whose order is arbitrary; we order them by first appearance in the passage, which changes nothing but
/// the tie-break between equal scores.
/// </remarks>
internal sealed class RecordTask : SuperGlueTask
{
    public override string Name => "record";

    public override TaskKind Kind => TaskKind.MultipleChoice;

    public override PromptedExample Render(TaskExample example)
    {
        string passage = example.Field("passage").Replace("@highlight\n", "- ", StringComparison.Ordinal);
        string query = example.Field("query");
        IReadOnlyList<string> entities = example.List("entities");
        IReadOnlyList<string> answers = example.List("answers");
        string[] verbalized =
            [.. entities.Select(entity => $"{passage}\n- {query.Replace("@placeholder", entity, StringComparison.Ordinal)}")];
        int[] accepted = [.. answers.Select(answer => IndexOf(entities, answer))];
        return TemplateOutput.Build(example, $"{passage}\n-", verbalized, accepted[0], answers, accepted);
    }

    protected override void Read(JsonRecord record, List<TaskExample> examples)
    {
        JsonRecord passage = record.Object("passage");
        string text = passage.String("text");
        string[] entities = Entities(text, passage.Objects("entities"));
        foreach (JsonRecord qa in record.Objects("qas"))
        {
            var answers = new SortedSet<string>(qa.Objects("answers").Select(answer => answer.String("text")),
                PythonText.CodePointOrder);
            if (answers.Count == 0)
                throw TaskDataException.Malformed(qa.Where, "the query has no answers");
            foreach (string answer in answers)
            {
                if (IndexOf(entities, answer) < 0)
                    throw TaskDataException.Malformed(qa.Where, $"answer \"{answer}\" is not one of the passage's entities");
            }
            examples.Add(new TaskExample(qa.Integer("idx").ToString(CultureInfo.InvariantCulture), qa.Where,
                new Dictionary<string, string> { ["passage"] = text, ["query"] = qa.String("query") },
                label: null,
                new Dictionary<string, IReadOnlyList<string>> { ["entities"] = entities, ["answers"] = [.. answers] }));
        }
    }

    /// <summary>The distinct entity texts (start to end inclusive, code-point offsets) in order of first appearance.</summary>
    private static string[] Entities(string text, List<JsonRecord> spans)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var entities = new List<string>();
        foreach (var (start, end) in spans
                     .Select(span => (Start: span.Int32("start"), End: span.Int32("end")))
                     .OrderBy(span => span.Start))
        {
            string entity = PythonText.Slice(text, start, end + 1);
            if (seen.Add(entity)) entities.Add(entity);
        }
        return [.. entities];
    }

    private static int IndexOf(IReadOnlyList<string> texts, string text)
    {
        for (int i = 0; i < texts.Count; i++)
            if (string.Equals(texts[i], text, StringComparison.Ordinal)) return i;
        return -1;
    }
}
