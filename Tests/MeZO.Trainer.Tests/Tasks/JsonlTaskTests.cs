using MeZO.Trainer.Data;
using MeZO.Trainer.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

/// <summary>The jsonl task (your own data): each kind of record read and rendered, and how its splits are sampled.</summary>
public class JsonlTaskTests
{
    [Test]
    public void ClassificationRecordsRenderAsPromptAndAppendedCandidates()
    {
        using var folder = new TemporaryFolder();
        folder.Write("train.jsonl", """
            {"prompt": "a gorgeous film . It was", "candidates": [" terrible", " great"], "label": 1}

            {"prompt": "Which is a fruit?", "candidates": [" stone", " apple", " chair"], "label": 1}
            """);
        ITask task = TaskRegistry.Get("jsonl");
        var examples = task.LoadTrain(new DataFolder(folder.Path));

        Assert.That(task.Kind, Is.EqualTo(TaskKind.Classification));
        Assert.That(examples.Select(e => e.Id), Is.EqualTo(new[] { "train.jsonl:1", "train.jsonl:3" }), "ids name the file and line");
        Assert.That(examples[1].Origin, Is.EqualTo(Path.Combine(folder.Path, "train.jsonl") + ":3"));
        PromptedExample first = task.Render(examples[0]), second = task.Render(examples[1]);
        Assert.That(first.Prompt, Is.EqualTo("a gorgeous film . It was"));
        Assert.That(first.Candidates, Is.EqualTo(new[] { " terrible", " great" }));
        Assert.That(first.CorrectCandidate, Is.EqualTo(1));
        Assert.That(second.Candidates, Has.Count.EqualTo(3));
        Assert.That(second.GoldAnswers, Is.EqualTo(new[] { " apple" }));
    }

    [Test]
    public void APromptsTrailingSpaceMovesOntoTheCandidateAsInMezosTemplates()
    {
        // MeZO's encode_prompt strips spaces from both ends of the prompt and of the full text, so the space is tokenized
        // with the candidate, where the full text has it.
        using var folder = new TemporaryFolder();
        folder.Write("train.jsonl", """{"prompt": "Sentiment: ", "candidates": ["bad", "good"], "label": 0}""");
        ITask task = TaskRegistry.Get("jsonl");
        PromptedExample example = task.Render(task.LoadTrain(new DataFolder(folder.Path))[0]);
        Assert.That(example.Prompt, Is.EqualTo("Sentiment:"));
        Assert.That(example.Candidates, Is.EqualTo(new[] { " bad", " good" }));
    }

    [Test]
    public void CompletionRecordsAreGenerationExamplesWithTheCompletionAsGold()
    {
        using var folder = new TemporaryFolder();
        folder.Write("test.jsonl", """{"prompt": "Q: 2 + 2?\nA:", "completion": " 4\n"}""");
        ITask task = TaskRegistry.Get("jsonl");
        var examples = task.LoadTest(new DataFolder(folder.Path));

        Assert.That(task.Kind, Is.EqualTo(TaskKind.Generation));
        PromptedExample example = task.Render(examples[0]);
        Assert.That(example.Prompt, Is.EqualTo("Q: 2 + 2?\nA:"));
        Assert.That(example.Candidates, Is.EqualTo(new[] { " 4\n" }), "teacher-forced as written, its newline teaching where to stop");
        Assert.That(example.GoldAnswers, Is.EqualTo(new[] { " 4\n" }));
    }

    [Test]
    public void TextRecordsAreOneCandidateWithAnEmptyPrompt()
    {
        using var folder = new TemporaryFolder();
        folder.Write("train.jsonl", "{\"text\": \"  Once upon a time.  \"}\n{\"text\": \"The end.\"}\n");
        ITask task = TaskRegistry.Get("jsonl");
        var examples = task.LoadTrain(new DataFolder(folder.Path));

        Assert.That(task.Kind, Is.EqualTo(TaskKind.LanguageModeling));
        PromptedExample example = task.Render(examples[0]);
        Assert.That(example.Prompt, Is.Empty);
        Assert.That(example.Candidates, Is.EqualTo(new[] { "  Once upon a time.  " }), "the text is modelled as written");
    }

    [Test]
    public void EachCallerGetsItsOwnTaskSoKindsDoNotLeakBetweenDatasets()
    {
        using var text = new TemporaryFolder();
        text.Write("train.jsonl", """{"text": "Hello."}""");
        using var classification = new TemporaryFolder();
        classification.Write("train.jsonl", """{"prompt": "p", "candidates": [" a", " b"], "label": 0}""");
        ITask first = TaskRegistry.Get("jsonl"), second = TaskRegistry.Get("jsonl");
        first.LoadTrain(new DataFolder(text.Path));
        second.LoadTrain(new DataFolder(classification.Path));
        Assert.That((first.Kind, second.Kind), Is.EqualTo((TaskKind.LanguageModeling, TaskKind.Classification)));
        Assert.That(() => TaskRegistry.Get("jsonl").Kind, Throws.InstanceOf<TaskDataException>().With.Message.Contain("not known yet"));
    }

    [Test]
    public void WithoutAValidationFileValidationIsSampledFromTrainAsForThePaperTasks()
    {
        using var folder = new TemporaryFolder();
        folder.Write("train.jsonl", Records(20, "train"));
        folder.Write("test.jsonl", Records(7, "test"));
        ITask task = TaskRegistry.Get("jsonl");
        var splits = DatasetSplits.Sample(task, folder.Path, 12, 5, 4, seed: 3);

        // The same draw as sst2's: the first 12 + 5 of one seeded permutation of train, validation the last 5.
        int[] order = Permutation.Random(20, 3);
        Assert.That(splits.Train.Select(e => e.Id), Is.EqualTo(order[..12].Select(i => $"train.jsonl:{i + 1}")));
        Assert.That(splits.Validation.Select(e => e.Id), Is.EqualTo(order[12..17].Select(i => $"train.jsonl:{i + 1}")));
        Assert.That(splits.Test.Select(e => e.Id), Is.EqualTo(Permutation.Random(7, 3)[..4].Select(i => $"test.jsonl:{i + 1}")));
        Assert.That(splits.Files.Keys, Is.EqualTo(new[] { "test.jsonl", "train.jsonl" }));
        Assert.That(splits.Notes, Is.Empty);
    }

    [Test]
    public void AValidationFileIsSampledOnItsOwn()
    {
        using var folder = new TemporaryFolder();
        folder.Write("train.jsonl", Records(20, "train"));
        folder.Write("validation.jsonl", Records(6, "validation"));
        folder.Write("test.jsonl", Records(7, "test"));
        var splits = DatasetSplits.Sample(TaskRegistry.Get("jsonl"), folder.Path, 12, 10, 4, seed: 3);

        Assert.That(splits.Train.Select(e => e.Id), Is.EqualTo(Permutation.Random(20, 3)[..12].Select(i => $"train.jsonl:{i + 1}")));
        Assert.That(splits.Validation.Select(e => e.Id), Is.EquivalentTo(Enumerable.Range(1, 6).Select(i => $"validation.jsonl:{i}")),
            "all six, as fewer than the ten asked");
        Assert.That(splits.Notes.Single(), Does.Contain("validation split has 6 examples, fewer than the 10 asked"));
        Assert.That(splits.Files.Keys, Is.EqualTo(new[] { "test.jsonl", "train.jsonl", "validation.jsonl" }));
    }

    [Test]
    public void OnlyTheSplitsAskedForAreRead()
    {
        using var folder = new TemporaryFolder();
        folder.Write("test.jsonl", Records(3, "test"));
        var splits = DatasetSplits.Sample(TaskRegistry.Get("jsonl"), folder.Path, 0, 0, 3, seed: 1);
        Assert.That(splits.Test, Has.Count.EqualTo(3));
        Assert.That(splits.Files.Keys, Is.EqualTo(new[] { "test.jsonl" }), "no train.jsonl is needed to evaluate");
    }

    private static string Records(int count, string split) => string.Concat(Enumerable.Range(0, count)
        .Select(i => $"{{\"prompt\": \"{split} {i} It was\", \"candidates\": [\" terrible\", \" great\"], \"label\": {i % 2}}}\n"));
}
