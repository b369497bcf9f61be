using MeZO.Tests.Common;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// A step writes all its samples' records before any of its updates, so a trajectory that ends part-way through a
/// step's records (a kill between two writes) holds a step none of whose updates was applied: resume drops those
/// records, takes the step again, and ends as the uninterrupted run, trajectory and weights byte for byte.
/// </summary>
[Category(TestSpeed.Slow)]
public class PartialStepResumeTests
{
    [TestCase(1, TestName = "one of three records of the step on disk")]
    [TestCase(2, TestName = "two of three records of the step on disk, and half a third line")]
    public void AStepCutShortAmongItsRecordsIsTakenAgain(int recordsOnDisk)
    {
        using var folder = new TemporaryFolder();
        string reference = Path.Combine(folder.Path, "uninterrupted"), run = Path.Combine(folder.Path, "cut");
        var settings = BundledRun.Small(steps: 6) with { Samples = 3, CheckpointEvery = 2, EvalEvery = 3, LogEvery = 1 };
        new TrainingRun(settings, reference, resume: false, TextWriter.Null).Run();
        string[] lines = File.ReadAllLines(Path.Combine(reference, TrajectoryLog.FileName));

        // Stopped after step 3's updates (its report), then the first records of step 4 appended as a killed step 4 left them.
        Assert.That(() => new TrainingRun(settings, run, resume: false, TextWriter.Null, new StopAt(4)).Run(), Throws.InstanceOf<RunStopped>());
        string trajectory = Path.Combine(run, TrajectoryLog.FileName);
        Assert.That(File.ReadAllLines(trajectory), Is.EqualTo(lines[..12]), "four whole steps of three records");
        File.AppendAllText(trajectory, string.Concat(lines[12..(12 + recordsOnDisk)].Select(l => l + "\n")) + (recordsOnDisk == 2 ? lines[14][..20] : ""));

        var log = new StringWriter();
        new TrainingRun(settings, run, resume: true, log).Run();

        Assert.That(log.ToString(), Does.Contain($"step 4 was cut short after {recordsOnDisk} of its 3 samples' records and is taken again"));
        Assert.That(File.ReadAllLines(trajectory), Is.EqualTo(lines), "every record once, as the uninterrupted run wrote it");
        Assert.That(BundledRun.Weights(Path.Combine(run, "model")), Is.EqualTo(BundledRun.Weights(Path.Combine(reference, "model"))));
    }
}
