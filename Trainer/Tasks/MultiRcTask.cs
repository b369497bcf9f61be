using System.Globalization;
using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// MultiRC (SuperGLUE) cast as MeZO's MultiRCTemplate (from PromptSource). Each line of the file is a paragraph with
/// questions and candidate answers; as in the Hugging Face loader, every (paragraph, question, answer) is one example,
/// id "paragraph_question_answer", and the task is whether the answer is correct:
/// "&lt;paragraph&gt;\nQuestion: &lt;question&gt;\nI found this answer \"&lt;answer&gt;\". Is that correct? Yes or No?\n"
/// followed by "No" (0) or "Yes" (1).
/// </summary>
internal sealed class MultiRcTask : SuperGlueTask
{
    private static readonly string[] Verbalizer = ["No", "Yes"];

    public override string Name => "multirc";

    public override TaskKind Kind => TaskKind.Classification;

    public override PromptedExample Render(TaskExample example)
    {
        int label = example.RequireLabel();
        string prompt = $"{example.Field("paragraph")}\nQuestion: {example.Field("question")}\n" +
                        $"I found this answer \"{example.Field("answer")}\". Is that correct? Yes or No?\n";
        return TemplateOutput.Build(example, prompt, [.. Verbalizer.Select(word => prompt + word)], label, [Verbalizer[label]]);
    }

    protected override void Read(JsonRecord record, List<TaskExample> examples)
    {
        var passage = record.Object("passage");
        string paragraph = passage.String("text");
        string paragraphId = SuperGlueFiles.Id(record);
        foreach (var question in passage.Objects("questions"))
        {
            string questionText = question.String("question");
            string questionId = question.Integer("idx").ToString(CultureInfo.InvariantCulture);
            foreach (var answer in question.Objects("answers"))
            {
                string answerId = answer.Integer("idx").ToString(CultureInfo.InvariantCulture);
                examples.Add(new TaskExample($"{paragraphId}_{questionId}_{answerId}", answer.Where,
                    new Dictionary<string, string>
                    {
                        ["paragraph"] = paragraph,
                        ["question"] = questionText,
                        ["answer"] = answer.String("text"),
                    },
                    Labels.ZeroOrOne(answer, "label")));
            }
        }
    }
}
