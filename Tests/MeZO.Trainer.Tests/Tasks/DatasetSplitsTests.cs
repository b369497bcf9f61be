using MeZO.Trainer.Data;
using MeZO.Trainer.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

public class DatasetSplitsTests
{
    private static readonly ITask Sst2 = TaskRegistry.Get("sst2");

    [Test]
    public void PaperSizesOnSst2TakeAllOf872TestSentences()
    {
        SampledSplits splits = DatasetSplits.Sample(Sst2, TaskFiles.Folder("SST-2"), seed: 0);
        Assert.That(splits.Train, Has.Count.EqualTo(1000));
        Assert.That(splits.Validation, Has.Count.EqualTo(500));
        Assert.That(splits.Test, Has.Count.EqualTo(872));
        Assert.That(splits.Notes, Has.Count.EqualTo(1));
        Assert.That(splits.Notes[0], Does.Contain("872").And.Contain("1000"));
    }

    [Test]
    public void SameSeedSameSplitsOtherSeedOtherSplits()
    {
        string folder = TaskFiles.Folder("SST-2");
        SampledSplits first = DatasetSplits.Sample(Sst2, folder, 100, 50, 40, seed: 7);
        SampledSplits again = DatasetSplits.Sample(Sst2, folder, 100, 50, 40, seed: 7);
        SampledSplits other = DatasetSplits.Sample(Sst2, folder, 100, 50, 40, seed: 8);

        Assert.That(Ids(again.Train), Is.EqualTo(Ids(first.Train)));
        Assert.That(Ids(again.Validation), Is.EqualTo(Ids(first.Validation)));
        Assert.That(Ids(again.Test), Is.EqualTo(Ids(first.Test)));
        // Two seeds drawing the same 100 of 67,349 sentences would be a broken generator, not chance.
        Assert.That(Ids(other.Train), Is.Not.EqualTo(Ids(first.Train)));
        Assert.That(Ids(other.Test), Is.Not.EqualTo(Ids(first.Test)));
    }

    [Test]
    public void ValidationIsTheLastPartOfOneDrawAndDisjointFromTrain()
    {
        string folder = TaskFiles.Folder("SST-2");
        SampledSplits splits = DatasetSplits.Sample(Sst2, folder, 300, 120, 0, seed: 3);
        SampledSplits together = DatasetSplits.Sample(Sst2, folder, 420, 0, 0, seed: 3);

        Assert.That(Ids(splits.Train).Intersect(Ids(splits.Validation)), Is.Empty);
        Assert.That(Ids(splits.Train).Concat(Ids(splits.Validation)), Is.EqualTo(Ids(together.Train)));
        Assert.That(splits.Test, Is.Empty, "--test-examples 0 skips the test set");
        Assert.That(splits.Notes, Is.Empty);
    }

    [Test]
    public void ShortTrainingSplitIsDividedInTheProportionAsked()
    {
        // FewGLUE's RTE train.jsonl has 32 examples; 1000 + 500 asked → all 32, validation ⌊32·500/1500⌋ = 10, train 22.
        string folder = TaskFiles.Folder("superglue/RTE");
        int available = TaskFiles.NonBlankLines(TaskFiles.File("superglue/RTE", "train.jsonl"));
        SampledSplits splits = DatasetSplits.Sample(TaskRegistry.Get("rte"), folder, 1000, 500, 100, seed: 0);

        Assert.That(splits.Validation, Has.Count.EqualTo(available * 500 / 1500));
        Assert.That(splits.Train, Has.Count.EqualTo(available - available * 500 / 1500));
        Assert.That(Ids(splits.Train).Concat(Ids(splits.Validation)).Distinct().Count(), Is.EqualTo(available));
        Assert.That(splits.Test, Has.Count.EqualTo(100));
        Assert.That(splits.Notes.Single(), Does.Contain($"{available} examples").And.Contain("1500"));
    }

    [Test]
    public void UnneededSplitIsNotRead()
    {
        // shared/data has no ReCoRD validation file; with --test-examples 0 sampling never looks for it.
        SampledSplits splits = DatasetSplits.Sample(TaskRegistry.Get("record"), TaskFiles.Folder("superglue/ReCoRD"), 10, 5, 0, seed: 0);
        Assert.That(splits.Train.Count + splits.Validation.Count, Is.EqualTo(15));
    }

    [Test]
    public void NegativeCountIsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => DatasetSplits.Sample(Sst2, TaskFiles.Folder("SST-2"), -1, 0, 0, seed: 0));

    private static IEnumerable<string> Ids(IEnumerable<TaskExample> examples) => examples.Select(example => example.Id);
}
