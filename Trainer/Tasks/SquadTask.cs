using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// SQuAD v1.1 in its official JSON (data[].title, data[].paragraphs[].context, qas[].id/question/answers[].text), cast as
/// the template MeZO uses for it (SQuADv2Template): "Title: &lt;title&gt;\nContext: &lt;context&gt;\nQuestion:
/// &lt;question stripped&gt;\nAnswer:"; the teacher-forced candidate is " &lt;first gold answer&gt;\n" — the newline
/// teaches the model where to stop, since generation ends at a newline.
/// </summary>
internal sealed class SquadTask : ITask
{
    public string Name => "squad";

    public TaskKind Kind => TaskKind.Generation;

    public string DataLayout =>
        "train-v1.1.json (the training split) and dev-v1.1.json (the official validation split), SQuAD v1.1 JSON";

    public IReadOnlyList<TaskExample> LoadTrain(DataFolder data) =>
        Load(data.Require(Name, "train-v1.1.json", "the SQuAD v1.1 training split (official JSON)", DataLayout));

    public IReadOnlyList<TaskExample> LoadTest(DataFolder data) =>
        Load(data.Require(Name, "dev-v1.1.json", "the SQuAD v1.1 validation split (official JSON)", DataLayout));

    public PromptedExample Render(TaskExample example)
    {
        IReadOnlyList<string> answers = example.List("answers");
        string prompt = $"Title: {example.Field("title")}\nContext: {example.Field("context")}\n" +
                        $"Question: {PythonText.Strip(example.Field("question"))}\nAnswer:";
        return TemplateOutput.Build(example, prompt, [$"{prompt} {answers[0]}\n"], 0, answers);
    }

    /// <summary>Every question is one example, in file order; as in the Hugging Face loader, a missing title is "" and the
    /// context is kept as written. MeZO requires at least one answer per question.</summary>
    private static List<TaskExample> Load(string path)
    {
        var examples = new List<TaskExample>();
        using var document = JsonFiles.ReadDocument(path);
        var root = new JsonRecord(document.RootElement, path);
        foreach (JsonRecord article in root.Objects("data"))
        {
            string title = article.StringOr("title", "");
            foreach (JsonRecord paragraph in article.Objects("paragraphs"))
            {
                string context = paragraph.String("context");
                foreach (JsonRecord qa in paragraph.Objects("qas"))
                {
                    List<string> answers = [.. qa.Objects("answers").Select(answer => answer.String("text"))];
                    if (answers.Count == 0)
                        throw TaskDataException.Malformed(qa.Where, "the question has no answers (SQuAD v1.1 questions all have one)");
                    examples.Add(new TaskExample(qa.String("id"), qa.Where,
                        new Dictionary<string, string>
                        {
                            ["title"] = title,
                            ["context"] = context,
                            ["question"] = qa.String("question"),
                        },
                        label: null,
                        new Dictionary<string, IReadOnlyList<string>> { ["answers"] = answers }));
                }
            }
        }
        return examples;
    }
}
