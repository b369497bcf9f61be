using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// RTE (SuperGLUE) cast as MeZO's RTETemplate (from PromptSource):
/// "&lt;premise&gt;\nDoes this mean that \"&lt;hypothesis&gt;\" is true? Yes or No?\n" followed by "Yes" (entailment) or
/// "No" (not_entailment).
/// </summary>
internal sealed class RteTask : SuperGlueTask
{
    private static readonly string[] LabelNames = ["entailment", "not_entailment"];
    private static readonly string[] Verbalizer = ["Yes", "No"];

    public override string Name => "rte";

    public override TaskKind Kind => TaskKind.Classification;

    public override PromptedExample Render(TaskExample example)
    {
        int label = example.RequireLabel();
        string prompt = $"{example.Field("premise")}\nDoes this mean that \"{example.Field("hypothesis")}\" is true? Yes or No?\n";
        return TemplateOutput.Build(example, prompt, [.. Verbalizer.Select(word => prompt + word)], label, [Verbalizer[label]]);
    }

    protected override void Read(JsonRecord record, List<TaskExample> examples) => examples.Add(new TaskExample(
            SuperGlueFiles.Id(record), record.Where,
            new Dictionary<string, string>
            {
                ["premise"] = record.String("premise"),
                ["hypothesis"] = record.String("hypothesis"),
            },
            Labels.Named(record, "label", LabelNames)));
}
