using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// COPA (SuperGLUE) cast as MeZO's CopaTemplate: the premise without its final period, then " so " (effect) or
/// " because " (cause), then the choice with its first word lower-cased unless that word is "I":
/// "The man turned on the faucet so" + " water flowed from the spout.". The prompt loses its trailing space to MeZO's
/// strip(' '), so each candidate begins with one.
/// </summary>
internal sealed class CopaTask : SuperGlueTask
{
    private static readonly string[] QuestionNames = ["cause", "effect"];

    public override string Name => "copa";

    public override TaskKind Kind => TaskKind.MultipleChoice;

    public override PromptedExample Render(TaskExample example)
    {
        int label = example.RequireLabel();
        string premise = PythonText.RStrip(example.Field("premise"));
        if (premise.EndsWith('.')) premise = premise[..^1];
        string conjunction = example.Field("question") == "effect" ? " so " : " because ";
        string prompt = premise + conjunction;
        string[] choices = [example.Field("choice1"), example.Field("choice2")];
        return TemplateOutput.Build(example, prompt, [.. choices.Select(choice => prompt + LowerFirstWord(choice))],
            label, [choices[label]]);
    }

    /// <summary>CopaTemplate's "correct" capitalization: split on single spaces, lower-case the first word unless it is "I".</summary>
    private static string LowerFirstWord(string choice)
    {
        int end = choice.IndexOf(' ');
        string first = end < 0 ? choice : choice[..end];
        return first == "I" ? choice : PythonText.Lower(first) + choice[first.Length..];
    }

    protected override void Read(JsonRecord record, List<TaskExample> examples)
    {
        string question = record.String("question");
        if (Array.IndexOf(QuestionNames, question) < 0)
            throw TaskDataException.Malformed(record.Where, $"question \"{question}\" should be \"cause\" or \"effect\"");
        examples.Add(new TaskExample(SuperGlueFiles.Id(record), record.Where,
            new Dictionary<string, string>
            {
                ["premise"] = record.String("premise"),
                ["choice1"] = record.String("choice1"),
                ["choice2"] = record.String("choice2"),
                ["question"] = question,
            },
            Labels.ZeroOrOne(record, "label")));
    }
}
