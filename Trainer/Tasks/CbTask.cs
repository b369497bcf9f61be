using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// CommitmentBank (SuperGLUE) cast as MeZO's CBTemplate (from PromptSource):
/// "Suppose &lt;premise&gt; Can we infer that \"&lt;hypothesis&gt;\"? Yes, No, or Maybe?\n" followed by "Yes"
/// (entailment), "No" (contradiction) or "Maybe" (neutral).
/// </summary>
internal sealed class CbTask : SuperGlueTask
{
    private static readonly string[] LabelNames = ["entailment", "contradiction", "neutral"];
    private static readonly string[] Verbalizer = ["Yes", "No", "Maybe"];

    public override string Name => "cb";

    public override TaskKind Kind => TaskKind.Classification;

    public override PromptedExample Render(TaskExample example)
    {
        int label = example.RequireLabel();
        string prompt = $"Suppose {example.Field("premise")} Can we infer that \"{example.Field("hypothesis")}\"? Yes, No, or Maybe?\n";
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
