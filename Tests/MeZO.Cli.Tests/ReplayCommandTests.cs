using MeZO.Tests.Common;
using MeZO.Trainer.Default;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>`mezo replay --model BASE` (and --base, its first name) rebuilds a run's weights bit for bit.</summary>
[Category(TestSpeed.Slow)]
public class ReplayCommandTests : BundledDefaultFixture
{

    [TestCase("--model")]
    [TestCase("--base")]
    public void ReplayRebuildsTheRunsWeights(string baseOption)
    {
        string run = Path.Combine(_root, "run-" + baseOption.TrimStart('-'));
        var train = MezoProcess.Run("train", "--model", _model, "--task", "sst2", "--data", _data, "--out", run, "--steps", "3",
            "--train-examples", "16", "--eval-examples", "4", "--test-examples", "4", "--batch-size", "4", "--lr", "1e-3");
        Assert.That(train.ExitCode, Is.Zero, train.Error);

        string replayed = Path.Combine(_root, "replayed-" + baseOption.TrimStart('-'));
        var replay = MezoProcess.Run("replay", baseOption, _model, "--run", run, "--out", replayed);

        Assert.That(replay.ExitCode, Is.Zero, replay.Error);
        Assert.That(File.ReadAllBytes(Path.Combine(replayed, "model.safetensors")),
            Is.EqualTo(File.ReadAllBytes(Path.Combine(run, "model", "model.safetensors"))));
    }
}
