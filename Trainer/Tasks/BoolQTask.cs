using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// BoolQ cast as the template MeZO uses for it (BoolQDataset.get_template defaults to version 2, BoolQTemplateV3):
/// "&lt;passage&gt; &lt;Question?&gt;\n" followed by "Yes" (true) or "No" (false), where the question gets a "?" if it has
/// none and its first character upper-cased. MeZO reads Hugging Face's boolq (field "answer"); the SuperGLUE jsonl we
/// read holds the same examples with the field "label".
/// </summary>
internal sealed class BoolQTask : SuperGlueTask
{
    private static readonly string[] Candidates = ["Yes", "No"];

    public override string Name => "boolq";

    public override TaskKind Kind => TaskKind.Classification;

    public override PromptedExample Render(TaskExample example)
    {
        int label = example.RequireLabel();
        string question = example.Field("question");
        if (!question.EndsWith('?')) question += "?";
        if (question.Length > 0) question = char.ToUpperInvariant(question[0]) + question[1..];
        string prompt = $"{example.Field("passage")} {question}\n";
        return TemplateOutput.Build(example, prompt, [.. Candidates.Select(word => prompt + word)], label, [Candidates[label]]);
    }

    protected override void Read(JsonRecord record, List<TaskExample> examples) => examples.Add(new TaskExample(
            SuperGlueFiles.Id(record), record.Where,
            new Dictionary<string, string>
            {
                ["passage"] = record.String("passage"),
                ["question"] = record.String("question"),
            },
            Labels.Boolean(record, "label") ? 0 : 1));
}
