using MeZO.Trainer.Data;
using MeZO.Trainer.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

/// <summary>Every way a jsonl task file can be wrong is one <see cref="TaskDataException"/> line naming the file and line.</summary>
public class JsonlTaskErrorTests
{
    private const string Good = """{"prompt": "p", "candidates": [" a", " b"], "label": 0}""";
    private const string GoodCompletion = """{"prompt": "p", "completion": " c"}""", GoodText = """{"text": "t"}""";

    [TestCase("{\"prompt\": \"p\", \"candidates\": [\" a\", \" b\"], \"label\": 0", "not a valid JSON object (column", TestName = "Bad JSON")]
    [TestCase("[1, 2]", "expected a JSON object, found an array", TestName = "Not an object")]
    [TestCase("""{"question": "q", "answer": "a"}""", "a record of no known kind (fields: \"question\", \"answer\")", TestName = "No known kind")]
    [TestCase("""{"prompt": "p", "candidates": [" a", " b"]}""", "field 'label' is missing (a classification record has fields \"prompt\", \"candidates\", \"label\")", TestName = "Missing field")]
    [TestCase("""{"prompt": "p", "candidates": [" a", " b"], "label": 0, "id": 7}""", "unexpected field 'id' (a classification record has", TestName = "Extra field")]
    [TestCase("""{"prompt": "p", "candidates": [" a", " b"], "label": 0, "label": 1}""", "field 'label' appears twice", TestName = "Repeated field")]
    [TestCase("""{"prompt": 3, "candidates": [" a", " b"], "label": 0}""", "field 'prompt' should be a string, found 3", TestName = "Prompt not a string")]
    [TestCase("""{"prompt": "p", "candidates": " a", "label": 0}""", "field 'candidates' should be an array of strings", TestName = "Candidates not an array")]
    [TestCase("""{"prompt": "p", "candidates": [" a", 2], "label": 0}""", "field 'candidates' should hold only strings, found 2", TestName = "Candidate not a string")]
    [TestCase("""{"prompt": "p", "candidates": [" a", " b"], "label": "1"}""", "field 'label' should be an integer, found the string \"1\"", TestName = "Label a string")]
    [TestCase("""{"prompt": "p", "candidates": [" a", " b"], "label": 1.5}""", "field 'label' should be an integer, found 1.5", TestName = "Label fractional")]
    [TestCase("""{"prompt": "p", "candidates": [" a", " b"], "label": 2}""", "'label' is 2, not the index of one of the 2 candidates (0 to 1)", TestName = "Label out of range")]
    [TestCase("""{"prompt": "p", "candidates": [" a", " b"], "label": -1}""", "'label' is -1, not the index", TestName = "Label negative")]
    [TestCase("""{"prompt": "p", "candidates": [], "label": 0}""", "'candidates' holds 0 candidates; a classification record needs at least two", TestName = "Empty candidates")]
    [TestCase("""{"prompt": "p", "candidates": [" a"], "label": 0}""", "'candidates' holds 1 candidate; a classification record needs at least two", TestName = "One candidate")]
    [TestCase("""{"prompt": "p", "completion": 4}""", "field 'completion' should be a string, found 4", TestName = "Completion not a string")]
    [TestCase("""{"prompt": "p", "completion": " \n"}""", "'completion' is empty or whitespace", TestName = "Empty completion")]
    [TestCase("""{"prompt": "p", "completion": "c", "label": 0}""", "unexpected field 'label' (a completion record has fields \"prompt\", \"completion\")", TestName = "Completion with a label")]
    [TestCase("""{"text": null}""", "field 'text' should be a string, found null", TestName = "Text null")]
    [TestCase("""{"text": ""}""", "'text' is empty", TestName = "Empty text")]
    public void ABadRecordNamesItsLine(string line, string problem)
    {
        using var folder = new TemporaryFolder();
        // After a good record of the bad one's kind, so that the kind is not what is wrong.
        string first = line.Contains("\"completion\"") ? GoodCompletion : line.Contains("\"text\"") ? GoodText : Good;
        string path = folder.Write("train.jsonl", first + "\n\n" + line + "\n");
        var error = Throws(() => TaskRegistry.Get("jsonl").LoadTrain(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.StartWith($"{path}:3: {problem}"));
    }

    [Test]
    public void ARecordOfAnotherKindNamesItsLineAndTheRecordThatSetTheKind()
    {
        using var folder = new TemporaryFolder();
        string path = folder.Write("train.jsonl", Good + "\n{\"text\": \"Hello.\"}\n");
        var error = Throws(() => TaskRegistry.Get("jsonl").LoadTrain(new DataFolder(folder.Path)));
        Assert.That(error.Message, Is.EqualTo($"{path}:2: a text record in a dataset of classification records (the kind is set by the " +
                                              $"first record, {path}:1); one dataset holds one kind in all its files"));
    }

    [Test]
    public void ASplitOfAnotherKindIsRejected()
    {
        using var folder = new TemporaryFolder();
        folder.Write("train.jsonl", Good + "\n");
        string test = folder.Write("test.jsonl", "{\"prompt\": \"p\", \"completion\": \" c\"}\n");
        var error = Throws(() => DatasetSplits.Sample(TaskRegistry.Get("jsonl"), folder.Path, 1, 0, 1, seed: 1));
        Assert.That(error.Message, Does.StartWith($"{test}:1: a completion record in a dataset of classification records"));
    }

    [TestCase("", TestName = "Empty file")]
    [TestCase("\n  \n\n", TestName = "Blank lines only")]
    public void AFileWithoutRecordsIsRejected(string content)
    {
        using var folder = new TemporaryFolder();
        string path = folder.Write("train.jsonl", content);
        var error = Throws(() => TaskRegistry.Get("jsonl").LoadTrain(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.StartWith($"{path}:1: the file holds no records"));
    }

    [Test]
    public void AMissingTrainFileNamesItsPathAndTheLayout()
    {
        using var folder = new TemporaryFolder();
        folder.Write("test.jsonl", Good + "\n");
        var error = Throws(() => DatasetSplits.Sample(TaskRegistry.Get("jsonl"), folder.Path, 4, 2, 1, seed: 1));
        Assert.That(error.Message, Does.StartWith($"jsonl: data file not found: {Path.Combine(folder.Path, "train.jsonl")} " +
                                                  "(expected the training split as train.jsonl or train.parquet"));
        Assert.That(error.Message, Does.Contain("without validation.jsonl the validation examples are sampled from train.jsonl"));
    }

    [Test]
    public void AMissingFolderIsNamed()
    {
        string missing = Path.Combine(Path.GetTempPath(), "mezo-no-such-folder-" + Guid.NewGuid().ToString("N"));
        var error = Throws(() => TaskRegistry.Get("jsonl").LoadTest(new DataFolder(missing)));
        Assert.That(error.Message, Does.StartWith($"jsonl: data folder not found: {missing}"));
    }

    [Test]
    public void BothFormatsOfOneSplitAreAmbiguous()
    {
        using var folder = new TemporaryFolder();
        folder.Write("train.jsonl", Good + "\n");
        folder.Write("train.parquet", "");
        var error = Throws(() => TaskRegistry.Get("jsonl").LoadTrain(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.Contain("both train.jsonl and train.parquet are present"));
    }

    [Test]
    public void ATextOfOneTokenCannotBeModelled()
    {
        using var folder = new TemporaryFolder();
        folder.Write("train.jsonl", "{\"text\": \"Hi\"}\n");
        ITask task = TaskRegistry.Get("jsonl");
        PromptedExample example = task.Render(task.LoadTrain(new DataFolder(folder.Path))[0]);
        var error = Throws(() => PromptEncoder.EncodeText(example, _ => [7], maxLength: 16, tokenizerAddsBos: false));
        Assert.That(error.Message, Does.StartWith("example train.jsonl:1: the text \"Hi\" is 1 token(s); language modelling needs at least two"));
    }

    private static TaskDataException Throws(Action code)
    {
        var error = Assert.Throws<TaskDataException>(() => code())!;
        Assert.That(error.Message, Does.Not.Contain("\n"), "one line");
        return error;
    }
}
