using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// DROP in its official JSON ({section id: {passage, qa_pairs: [{question, query_id, answer, validated_answers}]}}), cast
/// as MeZO's DROPTemplate: "Passage: &lt;passage&gt;\nQuestion: &lt;question stripped&gt;\nAnswer:"; the teacher-forced
/// candidate is " &lt;first gold answer&gt;\n".
/// </summary>
/// <remarks>
/// The gold answers are those of the Hugging Face loader ("answers_spans") that MeZO reads: in the training split the
/// question's "answer", in the validation split its "validated_answers" (not "answer"). Each answer object contributes its
/// number if non-empty, else its date as "day month year" (the three parts joined by spaces, then stripped), else each of
/// its spans. A question whose answers are empty, or mix a number, a date and spans, is left out, as that loader does
/// (9 training questions and 1 validation question of the official files).
/// </remarks>
internal sealed class DropTask : ITask
{
    public string Name => "drop";

    public TaskKind Kind => TaskKind.Generation;

    public string DataLayout =>
        "drop_dataset_train.json (the training split) and drop_dataset_dev.json (the official validation split), DROP JSON";

    public IReadOnlyList<TaskExample> LoadTrain(DataFolder data) =>
        Load(data.Require(Name, "drop_dataset_train.json", "the DROP training split (official JSON)", DataLayout),
            train: true);

    public IReadOnlyList<TaskExample> LoadTest(DataFolder data) =>
        Load(data.Require(Name, "drop_dataset_dev.json", "the DROP validation split (official JSON)", DataLayout),
            train: false);

    public PromptedExample Render(TaskExample example)
    {
        IReadOnlyList<string> answers = example.List("answers");
        string prompt = $"Passage: {example.Field("passage")}\nQuestion: {PythonText.Strip(example.Field("question"))}\nAnswer:";
        return TemplateOutput.Build(example, prompt, [$"{prompt} {answers[0]}\n"], 0, answers);
    }

    private static List<TaskExample> Load(string path, bool train)
    {
        var examples = new List<TaskExample>();
        using var document = JsonFiles.ReadDocument(path);
        if (document.RootElement.ValueKind != System.Text.Json.JsonValueKind.Object)
            throw TaskDataException.Malformed(path, "expected a JSON object of sections (section id → passage and qa_pairs)");
        foreach (var section in document.RootElement.EnumerateObject())
        {
            var record = new JsonRecord(section.Value, $"{path}: {section.Name}");
            string passage = record.String("passage");
            foreach (JsonRecord qa in record.Objects("qa_pairs"))
            {
                List<JsonRecord> annotations = train ? [qa.Object("answer")] : qa.Objects("validated_answers");
                List<string>? answers = GoldAnswers(annotations);
                if (answers is null) continue;
                examples.Add(new TaskExample(qa.String("query_id"), qa.Where,
                    new Dictionary<string, string>
                    {
                        ["section_id"] = section.Name,
                        ["passage"] = passage,
                        ["question"] = qa.String("question"),
                    },
                    label: null,
                    new Dictionary<string, IReadOnlyList<string>> { ["answers"] = answers }));
            }
        }
        return examples;
    }

    /// <summary>The answer texts, or null when the loader would reject the question (empty or ambiguous answers).</summary>
    private static List<string>? GoldAnswers(List<JsonRecord> annotations)
    {
        var answers = new List<string>();
        foreach (JsonRecord annotation in annotations)
        {
            string number = annotation.StringOr("number", "");
            string[] dateParts = ["", "", ""];
            if (annotation.Has("date"))
            {
                JsonRecord date = annotation.Object("date");
                dateParts = [date.StringOr("day", ""), date.StringOr("month", ""), date.StringOr("year", "")];
            }
            bool hasDate = dateParts.Any(part => part.Length > 0);
            List<string> spans = annotation.Has("spans") ? annotation.Strings("spans") : [];

            if (number.Length > 0)
            {
                if (hasDate || spans.Count > 0) return null;
                answers.Add(number);
            }
            else if (hasDate)
            {
                if (spans.Count > 0) return null;
                answers.Add(PythonText.Strip(string.Join(' ', dateParts)));
            }
            answers.AddRange(spans);
        }
        return answers.Count > 0 ? answers : null;
    }
}
