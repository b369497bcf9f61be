namespace MeZO.Trainer.Tasks;

/// <summary>
/// Word-in-Context (SuperGLUE) cast as MeZO's WICTemplate (from PromptSource):
/// "Does the word \"&lt;word&gt;\" have the same meaning in these two sentences? Yes, No?\n&lt;sentence1&gt;\n&lt;sentence2&gt;\n"
/// followed by "No" (false) or "Yes" (true).
/// </summary>
internal sealed class WicTask : ITask
{
    private static readonly string[] Verbalizer = ["No", "Yes"];

    public string Name => "wic";

    public TaskKind Kind => TaskKind.Classification;

    public string DataLayout => SuperGlueFiles.Layout;

    public IReadOnlyList<TaskExample> LoadTrain(string dataDir) => Load(dataDir, train: true);

    public IReadOnlyList<TaskExample> LoadTest(string dataDir) => Load(dataDir, train: false);

    public PromptedExample Render(TaskExample example)
    {
        int label = example.RequireLabel();
        string prompt = $"Does the word \"{example.Field("word")}\" have the same meaning in these two sentences? Yes, No?\n" +
                        $"{example.Field("sentence1")}\n{example.Field("sentence2")}\n";
        return TemplateOutput.Build(example, prompt, [.. Verbalizer.Select(word => prompt + word)], label, [Verbalizer[label]]);
    }

    private List<TaskExample> Load(string dataDir, bool train) =>
        SuperGlueFiles.Load(Name, dataDir, train, (record, examples) => examples.Add(new TaskExample(
            SuperGlueFiles.Id(record), record.Where,
            new Dictionary<string, string>
            {
                ["word"] = record.String("word"),
                ["sentence1"] = record.String("sentence1"),
                ["sentence2"] = record.String("sentence2"),
            },
            Labels.Boolean(record, "label") ? 1 : 0)));
}
