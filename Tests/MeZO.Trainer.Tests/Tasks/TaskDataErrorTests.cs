using MeZO.Trainer.Data;
using MeZO.Trainer.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

/// <summary>Each kind of bad input gives a one-line <see cref="TaskDataException"/> that names the file (and line).</summary>
public class TaskDataErrorTests
{
    private const string RteLine = """{"premise": "P.", "hypothesis": "H.", "label": "entailment", "idx": 0}""";

    [Test]
    public void MissingFolderNamesItAndTheExpectedFiles()
    {
        string missing = Path.Combine(Path.GetTempPath(), "mezo-no-such-folder-" + Guid.NewGuid().ToString("N"));
        var error = Throws(() => TaskRegistry.Get("rte").LoadTrain(new DataFolder(missing)));
        Assert.That(error.Message, Does.Contain(missing).And.Contain("train.jsonl").And.Contain("val.jsonl"));
    }

    [Test]
    public void MissingFileNamesItsPath()
    {
        using var folder = new TemporaryFolder();
        folder.Write("train.jsonl", RteLine + "\n");
        var error = Throws(() => TaskRegistry.Get("rte").LoadTest(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.Contain(Path.Combine(folder.Path, "val.jsonl")).And.Contain("validation split"));
    }

    [Test]
    public void Sst2NeedsTheDevPartOfTheTrainingSplit()
    {
        using var folder = new TemporaryFolder();
        folder.Write("train.tsv", "sentence\tlabel\ngood \t1\n");
        var error = Throws(() => TaskRegistry.Get("sst2").LoadTrain(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.Contain(Path.Combine(folder.Path, "dev.tsv")));
    }

    [Test]
    public void InvalidJsonLineNamesFileAndLine()
    {
        using var folder = new TemporaryFolder();
        string path = folder.Write("train.jsonl", RteLine + "\n{\"premise\": \"P.\", \n");
        var error = Throws(() => TaskRegistry.Get("rte").LoadTrain(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.StartWith(path + ":2:").And.Contain("JSON"));
    }

    [Test]
    public void MissingFieldNamesFileLineAndField()
    {
        using var folder = new TemporaryFolder();
        string path = folder.Write("train.jsonl", RteLine + "\n\n" + """{"premise": "P.", "label": "entailment", "idx": 1}""" + "\n");
        var error = Throws(() => TaskRegistry.Get("rte").LoadTrain(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.StartWith(path + ":3:").And.Contain("'hypothesis'"));
    }

    [TestCase("rte", """{"premise": "P.", "hypothesis": "H.", "label": "contradiction", "idx": 0}""", "\"contradiction\"")]
    [TestCase("cb", """{"premise": "P.", "hypothesis": "H.", "label": "maybe", "idx": 0}""", "\"maybe\"")]
    [TestCase("boolq", """{"question": "q", "passage": "p", "label": "yes", "idx": 0}""", "\"yes\"")]
    [TestCase("wic", """{"word": "w", "sentence1": "a", "sentence2": "b", "label": 1, "idx": 0}""", "1")]
    [TestCase("copa", """{"premise": "P.", "choice1": "A.", "choice2": "B.", "question": "cause", "label": 2, "idx": 0}""", "2")]
    public void LabelOutsideTheVerbalizerNamesFileLineAndLabel(string task, string line, string label)
    {
        using var folder = new TemporaryFolder();
        string path = folder.Write("train.jsonl", line + "\n");
        var error = Throws(() => TaskRegistry.Get(task).LoadTrain(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.StartWith(path + ":1:").And.Contain("label " + label));
    }

    [Test]
    public void Sst2LabelOutsideTheVerbalizer()
    {
        using var folder = new TemporaryFolder();
        string path = folder.Write("train.tsv", "sentence\tlabel\ngood \t1\nmeh \t2\n");
        folder.Write("dev.tsv", "sentence\tlabel\n");
        var error = Throws(() => TaskRegistry.Get("sst2").LoadTrain(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.StartWith(path + ":3:").And.Contain("label \"2\""));
    }

    [Test]
    public void Sst2RowWithTheWrongNumberOfFields()
    {
        using var folder = new TemporaryFolder();
        string path = folder.Write("train.tsv", "sentence\tlabel\ngood\t1\nbad\t0\textra\n");
        folder.Write("dev.tsv", "sentence\tlabel\n");
        var error = Throws(() => TaskRegistry.Get("sst2").LoadTrain(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.StartWith(path + ":3:").And.Contain("expected 2 tab-separated fields, found 3"));
    }

    [Test]
    public void Sst2UnlabeledGlueTestFileIsRejected()
    {
        // GLUE's own SST-2 test.tsv has no labels (header "index<TAB>sentence"); the paper's test is GLUE's validation split.
        using var folder = new TemporaryFolder();
        string path = folder.Write("test.tsv", "index\tsentence\n0\tuneasy mishmash of styles and genres .\n");
        var error = Throws(() => TaskRegistry.Get("sst2").LoadTest(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.StartWith(path + ":1:").And.Contain("'label'"));
    }

    [Test]
    public void CopaQuestionMustBeCauseOrEffect()
    {
        using var folder = new TemporaryFolder();
        string path = folder.Write("train.jsonl",
            """{"premise": "P.", "choice1": "A.", "choice2": "B.", "question": "reason", "label": 0, "idx": 0}""" + "\n");
        var error = Throws(() => TaskRegistry.Get("copa").LoadTrain(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.StartWith(path + ":1:").And.Contain("\"reason\""));
    }

    [Test]
    public void RecordAnswerMustBeAnEntity()
    {
        using var folder = new TemporaryFolder();
        string path = folder.Write("train.jsonl", """
            {"passage": {"text": "Ann met Bob.", "entities": [{"start": 0, "end": 2}, {"start": 8, "end": 10}]}, "qas": [{"query": "@placeholder smiled.", "answers": [{"start": 4, "end": 6, "text": "met"}], "idx": 7}], "idx": 1}
            """ + "\n");
        var error = Throws(() => TaskRegistry.Get("record").LoadTrain(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.StartWith(path + ":1").And.Contain("\"met\""));
    }

    [Test]
    public void InvalidSquadJsonNamesItsLine()
    {
        using var folder = new TemporaryFolder();
        string path = folder.Write("dev-v1.1.json", "{\"data\": [\n  {\"title\": \"T\",\n   \"paragraphs\": [}\n]}\n");
        var error = Throws(() => TaskRegistry.Get("squad").LoadTest(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.StartWith(path + ":3:"));
    }

    [Test]
    public void SquadQuestionWithoutAnswers()
    {
        using var folder = new TemporaryFolder();
        string path = folder.Write("dev-v1.1.json",
            """{"data": [{"title": "T", "paragraphs": [{"context": "C", "qas": [{"id": "x", "question": "Q?", "answers": []}]}]}]}""");
        var error = Throws(() => TaskRegistry.Get("squad").LoadTest(new DataFolder(folder.Path)));
        Assert.That(error.Message, Does.StartWith(path).And.Contain("qas[0]").And.Contain("no answers"));
    }

    [Test]
    public void EmptySetAfterSamplingSaysWhichAndHowToSkipIt()
    {
        using var folder = new TemporaryFolder();
        folder.Write("train.jsonl", "\n");
        var error = Throws(() => DatasetSplits.Sample(TaskRegistry.Get("rte"), folder.Path, 10, 0, 0, seed: 1));
        Assert.That(error.Message, Does.Contain("train set is empty").And.Contain("--train-examples 0"));
    }

    private static TaskDataException Throws(Action action)
    {
        var error = Assert.Throws<TaskDataException>(() => action())!;
        Assert.That(error.Message, Does.Not.Contain("\n"), "errors are one line");
        return error;
    }
}
