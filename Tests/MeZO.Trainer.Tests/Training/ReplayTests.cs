using MeZO.Engine.Tensors;
using MeZO.Engine;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;
using MeZO.Trainer.Runs;

namespace MeZO.Trainer.Tests.Training;

/// <summary>`mezo replay`: the base weights and trajectory.jsonl alone rebuild the run's model/ bit for bit.</summary>
public class ReplayTests
{
    [TestCase(null, TestName = "F32 (the checkpoint's dtype)")]
    [TestCase(DType.BF16, TestName = "BF16 storage (--dtype bf16)")]
    [TestCase(DType.F16, TestName = "F16 storage (--dtype f16)")]
    public void ReplayRebuildsTheRunsFinalWeightsBitForBit(DType? dtype)
    {
        using var folder = new TemporaryFolder();
        string run = Path.Combine(folder.Path, "run"), rebuilt = Path.Combine(folder.Path, "rebuilt");
        new TrainingRun(BundledRun.Small() with { Storage = dtype }, run, resume: false, TextWriter.Null).Run();

        var result = Replay.Run(BundledRun.Model, run, rebuilt, backendName: null);

        Assert.That((result.Steps, result.Records), Is.EqualTo((8L, 16)), "8 steps of 2 samples");
        byte[] trained = BundledRun.Weights(Path.Combine(run, "model"));
        Assert.That(BundledRun.Weights(rebuilt), Is.EqualTo(trained));
        Assert.That(trained, Is.Not.EqualTo(BundledRun.Weights(BundledRun.Model)), "the run changed the weights");
        // The run's config.json: the base's, with torch_dtype saying the storage dtype.
        Assert.That(File.ReadAllText(Path.Combine(rebuilt, "config.json")), Is.EqualTo(File.ReadAllText(Path.Combine(run, "model", "config.json"))));
    }

    [Test]
    public void ReplayRefusesABaseWhoseWeightsDifferFromTheRuns()
    {
        using var folder = new TemporaryFolder();
        string run = Path.Combine(folder.Path, "run");
        new TrainingRun(BundledRun.Small(steps: 1), run, resume: false, TextWriter.Null).Run();

        // The run's own output is a model folder of the same architecture, but not the base the run started from.
        Assert.That(() => Replay.Run(Path.Combine(run, "model"), run, Path.Combine(folder.Path, "rebuilt"), null),
            Throws.InstanceOf<InvalidInputException>().With.Message.Contains("SHA-256 differs"));
        Assert.That(Directory.Exists(Path.Combine(folder.Path, "rebuilt")), Is.False);
    }
}
