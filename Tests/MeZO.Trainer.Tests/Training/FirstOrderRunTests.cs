using MeZO.Engine;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// `mezo train --optimizer sgd|adamw`: backprop runs in the same run folder as MeZO's, and keeps its promises: it
/// learns, a stopped run resumes to the same bits (weights and optimizer state, float32 masters of 16-bit weights
/// included), a loss that blows up stops the run with the last good checkpoint kept, and what it cannot do it refuses
/// before allocating.
/// </summary>
public class FirstOrderRunTests
{
    private static TrainSettings AdamW(long steps) => BundledRun.Small(steps) with
    {
        Optimizer = OptimizerKind.AdamW, LearningRate = 1e-3, Samples = 1, WeightDecay = 0.01,
    };

    [Test]
    public void AdamWLearnsTheBundledTaskInAHundredSteps()
    {
        using var folder = new TemporaryFolder();
        var settings = AdamW(100) with { TrainExamples = 256, TestExamples = 128, BatchSize = 16, MicroBatchSize = 16, EvalExamples = 0, CheckpointEvery = 0 };
        var result = new TrainingRun(settings, Path.Combine(folder.Path, "run"), resume: false, TextWriter.Null).Run();
        TestContext.Out.WriteLine($"test accuracy {result.TestBefore?.Value} → {result.Test?.Value}");
        Assert.That(result.TestBefore!.Value, Is.LessThan(0.7), "the untrained model does not already know the task");
        Assert.That(result.Test!.Value, Is.GreaterThanOrEqualTo(0.9));
        Assert.That(File.Exists(Path.Combine(folder.Path, "run", "trajectory.jsonl")) ? new FileInfo(Path.Combine(folder.Path, "run", "trajectory.jsonl")).Length : 0,
            Is.Zero, "backprop's steps are not MeZO's records");
    }

    [TestCase(OptimizerKind.ZoSgd, null, null)]
    [TestCase(OptimizerKind.ZoSgd, DType.BF16, DType.BF16)]
    [TestCase(OptimizerKind.AdamW, null, DType.F32)]
    [TestCase(OptimizerKind.Sgd, null, DType.F32)]
    [TestCase(OptimizerKind.Sgd, DType.F16, DType.F16)]
    public void BackpropLoadsInFloat32UnlessTold(OptimizerKind optimizer, DType? compute, DType? loaded)
    {
        // Null leaves the backend's default, which is a 16-bit model's own dtype on CUDA: backprop would refuse it. An
        // explicit 16-bit --compute is kept, so the user hears backprop's refusal rather than a silent change.
        var settings = BundledRun.Small(1) with { Optimizer = optimizer, Compute = compute };
        Assert.That(settings.ComputeToLoad, Is.EqualTo(loaded));

        // Derived, so run.json does not record it: a resume derives it again from what was given.
        using var folder = new TemporaryFolder();
        new RunManifest
        {
            Settings = settings, BaseModel = "m", BaseWeightsSha256 = new Dictionary<string, string>(), EngineVersion = "0",
            TrainableParameters = 1, Created = DateTimeOffset.UnixEpoch,
        }.Write(folder.Path);
        Assert.That(File.ReadAllText(Path.Combine(folder.Path, RunManifest.FileName)), Does.Not.Contain("to_load"));
        Assert.That(RunManifest.Read(folder.Path).Settings.Compute, Is.EqualTo(compute));
    }

    [TestCase(OptimizerKind.AdamW, null, TestName = "AdamW, float32 weights")]
    [TestCase(OptimizerKind.AdamW, DType.BF16, TestName = "AdamW, BF16 weights with float32 masters")]
    [TestCase(OptimizerKind.Sgd, DType.F16, TestName = "SGD, F16 weights with float32 masters")]
    public void AStoppedRunResumesToTheSameWeightsAndState(OptimizerKind optimizer, DType? dtype)
    {
        using var folder = new TemporaryFolder();
        string reference = Path.Combine(folder.Path, "uninterrupted"), run = Path.Combine(folder.Path, "stopped");
        var settings = AdamW(9) with { Optimizer = optimizer, Storage = dtype, LearningRate = optimizer == OptimizerKind.Sgd ? 0.5 : 1e-3 };
        new TrainingRun(settings, reference, resume: false, TextWriter.Null).Run();
        // Stopped after step 6's update, before its checkpoint: the last is at step 3, so steps 3–5 are taken again from
        // its weights and state.
        Assert.That(() => new TrainingRun(settings, run, resume: false, TextWriter.Null, new StopAt(6)).Run(), Throws.InstanceOf<RunStopped>());
        Assert.That(RunState.Read(Path.Combine(run, "checkpoint")).CompletedSteps, Is.EqualTo(3));
        new TrainingRun(settings with { GradientCheckpointing = true }, run, resume: true, TextWriter.Null).Run();

        byte[] trained = BundledRun.Weights(Path.Combine(reference, "model"));
        Assert.That(BundledRun.Weights(Path.Combine(run, "model")), Is.EqualTo(trained), "resumed (with layers recomputed) to the same bits");
        Assert.That(trained, Is.Not.EqualTo(BundledRun.Weights(BundledRun.Model)), "the run changed the weights");
        string state = Path.Combine("checkpoint", FirstOrderOptimizer.StateFileName);
        bool hasState = optimizer == OptimizerKind.AdamW || dtype is not null;
        Assert.That(File.Exists(Path.Combine(reference, state)), Is.EqualTo(hasState));
        if (hasState) Assert.That(File.ReadAllBytes(Path.Combine(run, state)), Is.EqualTo(File.ReadAllBytes(Path.Combine(reference, state))));
        if (dtype is not null)
        {
            // The masters carry what the 16-bit weights cannot hold: the stored weight is its master rounded to nearest.
            using var masters = SafetensorsFile.Open(Path.Combine(reference, state));
            Assert.That(masters.Entries.Count(e => e.Name.StartsWith("master.", StringComparison.Ordinal)), Is.GreaterThan(0));
        }
    }

    [Test]
    public void ALossThatBlowsUpStopsTheRunAtItsStepBeforeAnythingIsSaved()
    {
        using var folder = new TemporaryFolder();
        string run = Path.Combine(folder.Path, "run");
        // No clipping and a huge plain-SGD rate: the first update throws the weights far enough to overflow the forward pass.
        var settings = AdamW(8) with { Optimizer = OptimizerKind.Sgd, LearningRate = 1e30, MaxGradNorm = 0, CheckpointEvery = 1, EvalEvery = 0 };
        var error = Assert.Throws<InvalidInputException>(() => new TrainingRun(settings, run, resume: false, TextWriter.Null).Run())!;
        TestContext.Out.WriteLine(error.Message);
        Assert.That(error.Message, Does.Contain("non-finite at step 1").And.Contain("training stopped"));
        Assert.That(Directory.Exists(Path.Combine(run, "model")), Is.False, "no final model from a run that blew up");
    }

    [Test]
    public void AMemoryNeedBeyondTheMachineIsRefusedBeforeAllocating()
    {
        var settings = AdamW(1);
        using var session = TrainingSession.Open(settings);
        var trainable = session.SelectTrainable(null);
        long need = FirstOrderSetup.EstimateBytes(session, settings, trainable);
        var error = Assert.Throws<InvalidInputException>(() => FirstOrderSetup.Check(session, settings, trainable, availableBytes: need - 1))!;
        Assert.That(error.Message, Does.Contain("--optimizer adamw would need about").And.Contain("available").And.Contain("--gradient-checkpointing"));
        Assert.DoesNotThrow(() => FirstOrderSetup.Check(session, settings, trainable, availableBytes: need));
        Assert.That(FirstOrderSetup.EstimateBytes(session, settings with { GradientCheckpointing = true }, trainable), Is.LessThan(need));
    }

    [Test]
    public void WhatBackpropCannotTrainIsRefusedByName()
    {
        using var folder = new TemporaryFolder();
        string Refusal(TrainSettings s) =>
            Assert.Throws<InvalidInputException>(() => new TrainingRun(s, Path.Combine(folder.Path, Guid.NewGuid().ToString("N")), false, TextWriter.Null).Run())!.Message;
        Assert.That(Refusal(AdamW(1) with { Objective = Objective.Accuracy }), Does.Contain("not differentiable").And.Contain("zo-sgd"));
        Assert.That(Refusal(AdamW(1) with { Samples = 2 }), Does.Contain("--samples 2"));
    }

    [Test]
    public void WhatTheSettingsAloneRuleOutIsRefusedBeforeTheRunFolderIsMade()
    {
        using var folder = new TemporaryFolder();
        string run = Path.Combine(folder.Path, "run");
        string Refusal(TrainSettings s) =>
            Assert.Throws<InvalidInputException>(() => new TrainingRun(s, run, false, TextWriter.Null).Run())!.Message;
        Assert.That(Refusal(AdamW(1) with { MaxDeviceMemory = 1L << 20 }), Does.Contain("--max-device-memory"));
        Assert.That(Refusal(AdamW(1) with { Compute = DType.BF16 }), Does.Contain("bf16 activations (--compute)"));
        Assert.That(Directory.Exists(run), Is.False, "no folder holding only a .lock is left behind");
    }

    [Test]
    public void ReplayRefusesAFirstOrderRun()
    {
        using var folder = new TemporaryFolder();
        string run = Path.Combine(folder.Path, "run");
        new TrainingRun(AdamW(1), run, resume: false, TextWriter.Null).Run();
        Assert.That(() => Replay.Run(BundledRun.Model, run, Path.Combine(folder.Path, "rebuilt"), null),
            Throws.InstanceOf<InvalidInputException>().With.Message.Contains("not replayable").And.Message.Contains("--resume"));
    }
}
