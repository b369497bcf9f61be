using System.Text.Json.Serialization;
using MeZO.Trainer.Data;
using MeZO.Trainer.Tasks;
using NUnit.Framework;
using Parquet;
using Parquet.Serialization;

namespace MeZO.Trainer.Tests.Tasks;

/// <summary>
/// The jsonl task's .parquet files, written here with Parquet.Net as Hugging Face datasets exports them (one column per
/// field, candidates a list of strings, the label int64): the same records as jsonl give the same examples, and every
/// bad column or row is named.
/// </summary>
public class JsonlParquetTests
{
    private sealed class Choice
    {
        [JsonPropertyName("prompt")] public string? Prompt { get; init; }
        [JsonPropertyName("candidates")] public List<string>? Candidates { get; init; }
        [JsonPropertyName("label")] public long Label { get; init; }
    }

    private sealed class Choice32
    {
        [JsonPropertyName("prompt")] public string? Prompt { get; init; }
        [JsonPropertyName("candidates")] public List<string>? Candidates { get; init; }
        [JsonPropertyName("label")] public int Label { get; init; }
    }

    private sealed class Completion
    {
        [JsonPropertyName("prompt")] public string? Prompt { get; init; }
        [JsonPropertyName("completion")] public string? Answer { get; init; }
    }

    private sealed class Text
    {
        [JsonPropertyName("text")] public string? Body { get; init; }
    }

    private sealed class LabelAsString
    {
        [JsonPropertyName("prompt")] public string? Prompt { get; init; }
        [JsonPropertyName("candidates")] public List<string>? Candidates { get; init; }
        [JsonPropertyName("label")] public string? Label { get; init; }
    }

    private sealed class NoLabel
    {
        [JsonPropertyName("prompt")] public string? Prompt { get; init; }
        [JsonPropertyName("candidates")] public List<string>? Candidates { get; init; }
    }

    private sealed class PromptAsList
    {
        [JsonPropertyName("prompt")] public List<string>? Prompt { get; init; }
        [JsonPropertyName("completion")] public string? Answer { get; init; }
    }

    private static readonly Choice[] Choices =
    [
        new() { Prompt = "a gorgeous film . It was", Candidates = [" terrible", " great"], Label = 1 },
        new() { Prompt = "Which is a fruit?", Candidates = [" stone", " apple", " chair", " cloud"], Label = 1 },
        new() { Prompt = "a dull , lifeless mess . It was", Candidates = [" terrible", " great"], Label = 0 },
        new() { Prompt = "Pick the vowel:", Candidates = [" b", " e", " k"], Label = 1 },
        new() { Prompt = "2 + 2 =", Candidates = [" 4", " 5"], Label = 0 },
    ];

    [Test]
    public void ClassificationRowsGiveTheExamplesOfTheSameJsonlLines()
    {
        using var folder = new TemporaryFolder();
        // Row groups of two rows: rows are numbered across groups.
        Write(folder, "train.parquet", Choices, rowGroupSize: 2);
        using var jsonl = new TemporaryFolder();
        jsonl.Write("train.jsonl", string.Concat(Choices.Select(c =>
            System.Text.Json.JsonSerializer.Serialize(new { prompt = c.Prompt, candidates = c.Candidates, label = c.Label }) + "\n")));

        ITask fromParquet = TaskRegistry.Get("jsonl"), fromJsonl = TaskRegistry.Get("jsonl");
        var parquetExamples = fromParquet.LoadTrain(new DataFolder(folder.Path));
        var jsonlExamples = fromJsonl.LoadTrain(new DataFolder(jsonl.Path));

        Assert.That(fromParquet.Kind, Is.EqualTo(TaskKind.Classification));
        Assert.That(parquetExamples.Select(e => e.Id), Is.EqualTo(Enumerable.Range(1, 5).Select(i => $"train.parquet: row {i}")));
        Assert.That(parquetExamples[4].Origin, Is.EqualTo(Path.Combine(folder.Path, "train.parquet") + ": row 5"));
        for (int i = 0; i < Choices.Length; i++)
        {
            PromptedExample expected = fromJsonl.Render(jsonlExamples[i]), actual = fromParquet.Render(parquetExamples[i]);
            Assert.That((actual.Prompt, actual.CorrectCandidate), Is.EqualTo((expected.Prompt, expected.CorrectCandidate)));
            Assert.That(actual.Candidates, Is.EqualTo(expected.Candidates));
        }
    }

    [Test]
    public void Int32LabelsCompletionsAndTextsAreRead()
    {
        using var choices = new TemporaryFolder();
        Write(choices, "test.parquet", Choices.Select(c => new Choice32 { Prompt = c.Prompt, Candidates = c.Candidates, Label = (int)c.Label }));
        Assert.That(TaskRegistry.Get("jsonl").LoadTest(new DataFolder(choices.Path)).Select(e => e.Label),
            Is.EqualTo(Choices.Select(c => (int?)c.Label)));

        using var completions = new TemporaryFolder();
        Write(completions, "test.parquet", [new Completion { Prompt = "Q: capital of France?\nA:", Answer = " Paris\n" }]);
        ITask completionTask = TaskRegistry.Get("jsonl");
        PromptedExample completion = completionTask.Render(completionTask.LoadTest(new DataFolder(completions.Path))[0]);
        Assert.That(completionTask.Kind, Is.EqualTo(TaskKind.Generation));
        Assert.That((completion.Prompt, completion.Candidates[0]), Is.EqualTo(("Q: capital of France?\nA:", " Paris\n")));

        using var texts = new TemporaryFolder();
        Write(texts, "train.parquet", [new Text { Body = "Once upon a time." }, new Text { Body = "The end." }]);
        ITask textTask = TaskRegistry.Get("jsonl");
        var examples = textTask.LoadTrain(new DataFolder(texts.Path));
        Assert.That(textTask.Kind, Is.EqualTo(TaskKind.LanguageModeling));
        Assert.That(examples.Select(e => textTask.Render(e).Candidates[0]), Is.EqualTo(new[] { "Once upon a time.", "The end." }));
    }

    [Test]
    public void AParquetSplitMayJoinJsonlSplitsOfItsKind()
    {
        using var folder = new TemporaryFolder();
        folder.Write("train.jsonl", """{"prompt": "p", "candidates": [" a", " b"], "label": 0}""" + "\n");
        Write(folder, "test.parquet", Choices);
        var splits = DatasetSplits.Sample(TaskRegistry.Get("jsonl"), folder.Path, 1, 0, 5, seed: 2);
        Assert.That(splits.Files.Keys, Is.EqualTo(new[] { "test.parquet", "train.jsonl" }));
        Assert.That(splits.Test, Has.Count.EqualTo(5));
    }

    [Test]
    public void AMissingColumnIsNamed()
    {
        using var folder = new TemporaryFolder();
        string path = Write(folder, "train.parquet", [new NoLabel { Prompt = "p", Candidates = [" a", " b"] }]);
        Assert.That(Error(folder), Does.StartWith($"{path}: columns: column 'label' is missing (a classification record has columns"));
    }

    [Test]
    public void AColumnOfTheWrongTypeIsNamed()
    {
        using var labels = new TemporaryFolder();
        string path = Write(labels, "train.parquet", [new LabelAsString { Prompt = "p", Candidates = [" a", " b"], Label = "1" }]);
        Assert.That(Error(labels), Is.EqualTo($"{path}: columns: column 'label' holds strings; it should hold integers"));

        using var prompts = new TemporaryFolder();
        path = Write(prompts, "train.parquet", [new PromptAsList { Prompt = ["p"], Answer = "a" }]);
        Assert.That(Error(prompts), Is.EqualTo($"{path}: columns: column 'prompt' holds lists of strings; it should hold strings"));
    }

    [Test]
    public void BadRowsAreNamedByTheirNumber()
    {
        using var empty = new TemporaryFolder();
        string path = Write(empty, "train.parquet", [Choices[0], Choices[1], new Choice { Prompt = "p", Candidates = [], Label = 0 }], rowGroupSize: 2);
        Assert.That(Error(empty), Is.EqualTo($"{path}: row 3: 'candidates' holds 0 candidates; a classification record needs at least two"));

        using var nullList = new TemporaryFolder();
        path = Write(nullList, "train.parquet", [Choices[0], new Choice { Prompt = "p", Candidates = null, Label = 0 }]);
        Assert.That(Error(nullList), Is.EqualTo($"{path}: row 2: 'candidates' holds 0 candidates; a classification record needs at least two"));

        using var range = new TemporaryFolder();
        path = Write(range, "train.parquet", [Choices[0], Choices[1], Choices[2], new Choice { Prompt = "p", Candidates = [" a", " b"], Label = 5 }], rowGroupSize: 3);
        Assert.That(Error(range), Does.StartWith($"{path}: row 4: 'label' is 5, not the index of one of the 2 candidates"));

        using var nullPrompt = new TemporaryFolder();
        path = Write(nullPrompt, "train.parquet", [Choices[0], new Choice { Prompt = null, Candidates = [" a", " b"], Label = 0 }]);
        Assert.That(Error(nullPrompt), Is.EqualTo($"{path}: row 2: 'prompt' is null"));
    }

    [Test]
    public void AFileWithoutRowsOrNotParquetIsNamed()
    {
        using var empty = new TemporaryFolder();
        string path = Write(empty, "train.parquet", Array.Empty<Text>());
        Assert.That(Error(empty), Is.EqualTo($"{path}: the file holds no rows"));

        using var garbage = new TemporaryFolder();
        path = garbage.Write("train.parquet", "{\"text\": \"not parquet\"}\n");
        Assert.That(Error(garbage), Does.StartWith($"{path}: not a readable Parquet file ("));
    }

    private static string Error(TemporaryFolder folder)
    {
        var error = Assert.Throws<TaskDataException>(() => TaskRegistry.Get("jsonl").LoadTrain(new DataFolder(folder.Path)))!;
        Assert.That(error.Message, Does.Not.Contain("\n"), "one line");
        return error.Message;
    }

    private static string Write<T>(TemporaryFolder folder, string name, IEnumerable<T> rows, int rowGroupSize = 1000)
    {
        string path = Path.Combine(folder.Path, name);
        using (var stream = File.Create(path))
            ParquetSerializer.SerializeAsync(rows, stream, new ParquetOptions { RowGroupSize = rowGroupSize }).GetAwaiter().GetResult();
        return path;
    }
}
