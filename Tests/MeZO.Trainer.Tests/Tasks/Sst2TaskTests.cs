using MeZO.Trainer.Data;
using MeZO.Trainer.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

public class Sst2TaskTests
{
    private static readonly ITask Task = TaskRegistry.Get("sst2");

    [Test]
    public void TrainIsTrainPlusDevAndTestIsTestWithoutHeaders()
    {
        string folder = TaskFiles.Folder("SST-2");
        // Each file has one header line; every other non-blank line is an example.
        int train = TaskFiles.NonBlankLines(TaskFiles.File("SST-2", "train.tsv")) - 1 +
                    TaskFiles.NonBlankLines(TaskFiles.File("SST-2", "dev.tsv")) - 1;
        int test = TaskFiles.NonBlankLines(TaskFiles.File("SST-2", "test.tsv")) - 1;

        Assert.That(Task.LoadTrain(new DataFolder(folder)), Has.Count.EqualTo(train));
        Assert.That(Task.LoadTest(new DataFolder(folder)), Has.Count.EqualTo(test));
        Assert.That(train, Is.EqualTo(67_349), "GLUE's SST-2 training split (README of shared/data)");
        Assert.That(test, Is.EqualTo(872), "GLUE's SST-2 validation split");
    }

    [Test]
    public void FirstTestSentenceRendersAsTheMezoTemplate()
    {
        // test.tsv line 2: "it 's a charming and often affecting journey . <TAB>1". SST2Template strips the sentence and
        // appends " It was"; verbalizer 0 → terrible, 1 → great.
        TaskExample first = Task.LoadTest(new DataFolder(TaskFiles.Folder("SST-2")))[0];
        PromptedExample prompted = Task.Render(first);

        Assert.That(prompted.Prompt, Is.EqualTo("it 's a charming and often affecting journey . It was"));
        Assert.That(prompted.Candidates, Is.EqualTo(new[] { " terrible", " great" }));
        Assert.That(prompted.CorrectCandidate, Is.EqualTo(1));
        Assert.That(prompted.GoldAnswers, Is.EqualTo(new[] { "great" }));
        Assert.That(prompted.FullText(1), Is.EqualTo("it 's a charming and often affecting journey . It was great"));
        Assert.That(first.Origin, Does.EndWith("test.tsv:2"));
    }

    [Test]
    public void ExampleIdsAreUniqueAcrossTrainAndDevFiles()
    {
        IReadOnlyList<TaskExample> train = Task.LoadTrain(new DataFolder(TaskFiles.Folder("SST-2")));
        Assert.That(train.Select(example => example.Id).Distinct().Count(), Is.EqualTo(train.Count));
    }
}
