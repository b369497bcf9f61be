using System.Globalization;
using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// SST-2 (GLUE) cast as MeZO's SST2Template: "&lt;sentence&gt; It was" followed by " terrible" (label 0) or " great"
/// (label 1). MeZO loads GLUE's train split for training and GLUE's validation split as test; in the folder layout we
/// read, train.tsv and dev.tsv together are GLUE's train split and test.tsv is GLUE's validation split.
/// </summary>
internal sealed class Sst2Task : ITask
{
    private static readonly string[] Verbalizer = ["terrible", "great"];
    private static readonly string[] LabelTexts = ["0", "1"];

    public string Name => "sst2";

    public TaskKind Kind => TaskKind.Classification;

    public string DataLayout =>
        "train.tsv and dev.tsv (together GLUE's SST-2 training split) and test.tsv (GLUE's validation split, the paper's test), " +
        "each with the header line sentence<TAB>label";

    public IReadOnlyList<TaskExample> LoadTrain(DataFolder data)
    {
        var examples = new List<TaskExample>();
        Read(Require(data, "train.tsv", "the first part of GLUE's SST-2 training split"), examples);
        Read(Require(data, "dev.tsv", "the second part of GLUE's SST-2 training split"), examples);
        return examples;
    }

    public IReadOnlyList<TaskExample> LoadTest(DataFolder data)
    {
        var examples = new List<TaskExample>();
        Read(Require(data, "test.tsv", "GLUE's SST-2 validation split with labels"), examples);
        return examples;
    }

    public PromptedExample Render(TaskExample example)
    {
        int label = example.RequireLabel();
        // SST2Template: the sentence is stripped of surrounding whitespace (GLUE's sentences end in a space).
        string text = PythonText.Strip(example.Field("sentence"));
        string[] verbalized = [.. Verbalizer.Select(word => $"{text} It was {word}")];
        return TemplateOutput.Build(example, $"{text} It was", verbalized, label, [Verbalizer[label]]);
    }

    private string Require(DataFolder data, string file, string role) =>
        data.Require(Name, file, role, DataLayout);

    private static void Read(string path, List<TaskExample> examples)
    {
        foreach (TsvFile.Row row in TsvFile.Read(path, "sentence", "label"))
        {
            string label = row.Fields["label"].Trim();
            int index = Array.IndexOf(LabelTexts, label);
            if (index < 0)
                throw TaskDataException.LabelOutsideVerbalizer(row.Where, $"\"{label}\"", ["0 (terrible)", "1 (great)"]);
            string id = examples.Count.ToString(CultureInfo.InvariantCulture);
            examples.Add(new TaskExample(id, row.Where,
                new Dictionary<string, string> { ["sentence"] = row.Fields["sentence"] }, index));
        }
    }
}
