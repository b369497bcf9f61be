using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// Word-in-Context (SuperGLUE) cast as MeZO's WICTemplate (from PromptSource):
/// "Does the word \"&lt;word&gt;\" have the same meaning in these two sentences? Yes, No?\n&lt;sentence1&gt;\n&lt;sentence2&gt;\n"
/// followed by "No" (false) or "Yes" (true).
/// </summary>
internal sealed class WicTask : SuperGlueTask
{
    private static readonly string[] Verbalizer = ["No", "Yes"];

    public override string Name => "wic";

    public override TaskKind Kind => TaskKind.Classification;

    public override PromptedExample Render(TaskExample example)
    {
        int label = example.RequireLabel();
        string prompt = $"Does the word \"{example.Field("word")}\" have the same meaning in these two sentences? Yes, No?\n" +
                        $"{example.Field("sentence1")}\n{example.Field("sentence2")}\n";
        return TemplateOutput.Build(example, prompt, [.. Verbalizer.Select(word => prompt + word)], label, [Verbalizer[label]]);
    }

    protected override void Read(JsonRecord record, List<TaskExample> examples) => examples.Add(new TaskExample(
            SuperGlueFiles.Id(record), record.Where,
            new Dictionary<string, string>
            {
                ["word"] = record.String("word"),
                ["sentence1"] = record.String("sentence1"),
                ["sentence2"] = record.String("sentence2"),
            },
            Labels.Boolean(record, "label") ? 1 : 0));
}
