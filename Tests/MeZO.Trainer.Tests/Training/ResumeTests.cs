using System.Text.Json.Nodes;
using MeZO.Tests.Common;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// A resumed run ends as an uninterrupted one in everything it reports, not only in model/: the best validation result,
/// its step, best/ and the test result. (ResumeAfterKillTests in MeZO.Cli.Tests kills the real process; here a run is
/// stopped in-process at a chosen step, right after that step's update and before its validation and checkpoint.)
/// </summary>
[Category(TestSpeed.Slow)]
public class ResumeTests
{
    [TestCase(null, null, TestName = "F32 (the checkpoint's dtype)")]
    [TestCase(DType.BF16, null, TestName = "BF16 storage: stochastic rounding replays from the trajectory")]
    [TestCase(DType.F16, null, TestName = "F16 storage: stochastic rounding replays from the trajectory")]
    [TestCase(DType.BF16, DType.BF16, TestName = "BF16 storage and activations: the compute dtype is a setting the resume keeps")]
    public void AResumedRunKeepsTheBestValidationOfTheUninterruptedRun(DType? dtype, DType? compute)
    {
        using var folder = new TemporaryFolder();
        string reference = Path.Combine(folder.Path, "uninterrupted"), run = Path.Combine(folder.Path, "stopped");
        var settings = BundledRun.Small(steps: 16) with
        {
            EvalExamples = 32, Samples = 1, LearningRate = 5e-3, EvalEvery = 2, CheckpointEvery = 5, LogEvery = 1, Storage = dtype,
            Compute = compute,
        };
        var uninterrupted = new TrainingRun(settings, reference, resume: false, TextWriter.Null).Run();

        // Stop where a lost validation changes the outcome: at the best step (its validation not yet made, the last
        // checkpoint before it), or, if the weights before training were best, before the first checkpoint (where
        // the result before training exists only in the stopped process).
        long stopAt = uninterrupted.BestStep is > 0 and long best ? best : 1;
        TestContext.Out.WriteLine($"best validation at step {uninterrupted.BestStep}; stopping at step {stopAt}");
        Assert.That(() => new TrainingRun(settings, run, resume: false, TextWriter.Null, new StopAt(stopAt)).Run(), Throws.InstanceOf<RunStopped>());
        var resumed = new TrainingRun(settings, run, resume: true, TextWriter.Null).Run();
        Assert.That(RunManifest.Read(run).Settings.Compute, Is.EqualTo(compute), "run.json records --compute");

        Assert.That((resumed.BestStep, resumed.ValidationBest?.Value), Is.EqualTo((uninterrupted.BestStep, uninterrupted.ValidationBest?.Value)));
        Assert.That(RunState.Read(Path.Combine(run, "checkpoint")), Is.EqualTo(RunState.Read(Path.Combine(reference, "checkpoint"))));
        Assert.That(Directory.Exists(Path.Combine(run, "best")), Is.EqualTo(Directory.Exists(Path.Combine(reference, "best"))));
        if (Directory.Exists(Path.Combine(reference, "best")))
            Assert.That(BundledRun.Weights(Path.Combine(run, "best")), Is.EqualTo(BundledRun.Weights(Path.Combine(reference, "best"))));
        Assert.That(resumed.Test?.Value, Is.EqualTo(uninterrupted.Test?.Value), "the test split is scored with the same (best) weights");
        Assert.That(BundledRun.Weights(Path.Combine(run, "model")), Is.EqualTo(BundledRun.Weights(Path.Combine(reference, "model"))));
    }

    /// <summary>
    /// A run begun on CUDA with no --compute computes a bf16 model in bf16 (that backend's default), and run.json records
    /// its settings.compute as null. Resumed on the CPU, whose default is float32, it must keep computing in bf16. The
    /// CUDA run is stood in for by a CPU run with --compute bf16 whose run.json then loses settings.compute.
    /// </summary>
    [Test]
    public void AResumeOnABackendWithAnotherDefaultKeepsTheActivationsTheRunBeganIn()
    {
        using var folder = new TemporaryFolder();
        string reference = Path.Combine(folder.Path, "uninterrupted"), run = Path.Combine(folder.Path, "stopped");
        var began = BundledRun.Small(steps: 8) with { Samples = 1, LearningRate = 5e-3, CheckpointEvery = 3, Storage = DType.BF16, Compute = DType.BF16 };
        new TrainingRun(began, reference, resume: false, TextWriter.Null).Run();
        Assert.That(() => new TrainingRun(began, run, resume: false, TextWriter.Null, new StopAt(4)).Run(), Throws.InstanceOf<RunStopped>());

        string manifestPath = Path.Combine(run, RunManifest.FileName);
        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        Assert.That(manifest["activations"]?.GetValue<string>(), Is.EqualTo("bf16"), "run.json records the resolved dtype");
        manifest["settings"]!.AsObject().Remove("compute");
        File.WriteAllText(manifestPath, manifest.ToJsonString());
        new TrainingRun(began with { Compute = null }, run, resume: true, TextWriter.Null).Run();

        Assert.That(BundledRun.Weights(Path.Combine(run, "model")), Is.EqualTo(BundledRun.Weights(Path.Combine(reference, "model"))),
            "resumed in bf16 activations, not the CPU's default float32");
        Assert.That(RunManifest.Read(run).Settings.Compute, Is.Null, "run.json still holds what was given");
    }
}
