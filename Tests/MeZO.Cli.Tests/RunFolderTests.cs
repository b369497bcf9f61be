using MeZO.Tests.Common;
using System.Security.Cryptography;
using MeZO.Cli.Commands;
using MeZO.Trainer.Default;
using MeZO.Trainer.Runs;
using NUnit.Framework;
using MeZO.Trainer.Training;

namespace MeZO.Cli.Tests;

/// <summary>
/// A run folder belongs to one process, and a resume continues exactly the run it finds: done for real, with
/// concurrent `mezo train` processes, signals, and files changed between the run and its resume.
/// </summary>
[Category(TestSpeed.Slow)]
public class RunFolderTests : BundledDefaultFixture
{

    private string NewPath(string name) => Path.Combine(_root, name + "-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>A copy of a folder's files, with <paramref name="change"/> applied to the copy.</summary>
    private string Copy(string folder, Action<string>? change = null)
    {
        string copy = NewPath(Path.GetFileName(folder));
        Directory.CreateDirectory(copy);
        foreach (string file in Directory.EnumerateFiles(folder)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        change?.Invoke(copy);
        return copy;
    }

    private string[] Train(string run, long steps, string? model = null, string? data = null, params string[] more) =>
    [
        "train", "--model", model ?? _model, "--task", "sst2", "--data", data ?? _data, "--out", run,
        "--train-examples", "32", "--eval-examples", "8", "--test-examples", "8", "--steps", $"{steps}", "--batch-size", "4",
        "--lr", "1e-3", "--checkpoint-every", "5", "--eval-every", "4", .. more,
    ];

    private static byte[] Weights(string run, string folder = "model") => File.ReadAllBytes(Path.Combine(run, folder, "model.safetensors"));

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    [Test]
    public void ASecondProcessOnARunningFolderIsRefusedNamingTheHolder()
    {
        string run = NewPath("run");
        using var first = MezoProcess.Start(Train(run, steps: 10_000_000));
        // Two steps recorded, so that below a resume with --steps 1 asks for fewer than the run has taken.
        first.WaitUntil(() => ResumeAfterKillTests.TrajectoryLines(run) >= 2, "the first run has recorded two steps");
        string manifest = File.ReadAllText(Path.Combine(run, RunManifest.FileName));

        foreach (string[] second in new[] { Train(run, steps: 4), Train(run, steps: 10_000_000, more: ["--resume"]), ["train", "--out", run, "--resume"] })
            MezoProcess.AssertOneLineError(MezoProcess.Run(second), $"{run} is in use by process {first.Id} (started ");
        Assert.That(first.HasExited, Is.False, "the refusals leave the running process alone");
        Assert.That(File.ReadAllText(Path.Combine(run, RunManifest.FileName)), Is.EqualTo(manifest), "and its run.json");

        // kill -9: the kernel drops the lock with the process, so nothing stale is left to refuse the next one.
        first.KillWhen(() => true, "now");
        var shorter = MezoProcess.Run("train", "--out", run, "--resume", "--steps", "1");
        MezoProcess.AssertOneLineError(shorter, "--resume: --steps 1 is fewer than the ");
    }

    [Test]
    public void TwoRunsStartedAtTheSameInstantHaveExactlyOneWinner([Values(1, 2, 3)] int attempt)
    {
        string run = NewPath("race");
        using var a = MezoProcess.Start(Train(run, steps: 3, more: ["--seed", "11"]));
        using var b = MezoProcess.Start(Train(run, steps: 3, more: ["--seed", "22"]));
        var results = new[] { a.WaitForExit(), b.WaitForExit() };

        Assert.That(results.Select(r => r.ExitCode), Is.EquivalentTo(new[] { 0, 1 }), string.Join("\n", results.Select(r => r.Error)));
        var loser = results.Single(r => r.ExitCode == 1);
        Assert.That(MezoProcess.ErrorLines(loser.Error), Has.Length.EqualTo(1));
        // Locked out while the winner runs, or too late and told the folder holds a run.
        Assert.That(loser.Error, Does.Contain("is in use by").Or.Contain("already holds a run"));
        ulong winnerSeed = results[0].ExitCode == 0 ? 11UL : 22UL;
        Assert.That(RunManifest.Read(run).Settings.Seed, Is.EqualTo(winnerSeed), "run.json is the winner's");
        Assert.That(TrajectoryLog.Read(Path.Combine(run, TrajectoryLog.FileName)).Records.Select(r => r.Step),
            Is.EqualTo(new long[] { 0, 1, 2 }), "one run's trajectory, each step once");
    }

    [TestCase("INT", 130)]
    [TestCase("TERM", 143)]
    public void ASignalPrintsTheLastCheckpointAndTheResumeCommand(string signal, int exitCode)
    {
        string run = NewPath("signal");
        using var mezo = MezoProcess.Start(Train(run, steps: 10_000_000));
        mezo.WaitUntil(() => File.Exists(Path.Combine(run, "checkpoint", RunState.FileName)), "the first checkpoint is written");
        mezo.Signal(signal);
        var result = mezo.WaitForExit();

        Assert.That(result.ExitCode, Is.EqualTo(exitCode), result.Error);
        string[] lines = MezoProcess.ErrorLines(result.Error);
        Assert.That(lines, Has.Length.EqualTo(1), result.Error);
        long checkpoint = RunState.Read(Path.Combine(run, "checkpoint")).CompletedSteps;
        Assert.That(lines[0], Does.Match($@"^mezo train: interrupted \(SIG{signal}\) after \d+ steps; the last checkpoint is at step {checkpoint}"));
        Assert.That(lines[0], Does.EndWith($"continue with: mezo train --out {run} --resume"));
    }

    [Test]
    public void OutNamingAFileIsRefusedBeforeTheModelLoads()
    {
        string file = NewPath("file");
        File.WriteAllText(file, "not a folder");
        MezoProcess.AssertOneLineError(MezoProcess.Run(Train(file, steps: 1, model: NewPath("no-such-model"))), $"--out {file} is a file, not a run folder");
        Assert.That(File.ReadAllText(file), Is.EqualTo("not a folder"));
    }

    [Test]
    public void ResumeAloneContinuesWithTheRunsSettingsAndOptionsBesideItMustEqualThem()
    {
        string reference = NewPath("reference"), run = NewPath("run");
        string[] settings = ["--samples", "2", "--weight-decay", "0.1", "--seed", "9", "--micro-batch-size", "2"];
        Assert.That(MezoProcess.Run(Train(reference, steps: 12, more: settings)).ExitCode, Is.EqualTo(0));
        using (var killed = MezoProcess.Start(Train(run, steps: 12, more: settings)))
            killed.KillWhen(() => File.Exists(Path.Combine(run, "checkpoint", RunState.FileName)), "the first checkpoint is written");

        MezoProcess.AssertOneLineError(MezoProcess.Run("train", "--out", run, "--resume", "--lr", "0.01", "--samples", "2", "--seed", "10"),
            "was made with other settings (--lr 0.01 given, the run's is 0.001, --seed 10 given, the run's is 9)");
        MezoProcess.AssertOneLineError(MezoProcess.Run("train", "--out", run, "--resume", "--batch-size", "8"),
            "(--batch-size 8 given, the run's is 4)");

        var resumed = MezoProcess.Run("train", "--out", run, "--resume", "--samples", "2", "--log-every", "3");
        Assert.That(resumed.ExitCode, Is.EqualTo(0), resumed.Error);
        Assert.That(Weights(run), Is.EqualTo(Weights(reference)), "the run's own settings, not the defaults");
    }

    [Test]
    public void EveryTrainSettingIsNamedByTheOptionThatSetsIt()
    {
        var train = new TrainCommand();
        string help = HelpText.Render(train);
        foreach (var property in TrainSettings.RecordedProperties)
        {
            Assert.That(TrainCommand.OptionOf.ContainsKey(property.Name), property.Name);
            string option = TrainCommand.OptionOf[property.Name];
            Assert.That(train.Options.Select(o => o.Name), Does.Contain(option), $"{property.Name}'s option is one of train's");
            Assert.That(help, Does.Contain("  " + option), $"{property.Name}'s option is in the help");
        }
    }

    /// <summary>
    /// With the constant schedule, the data order, seeds and rate of a step do not depend on the total, so a run extended
    /// from 10 to 20 steps is the 20-step run, bit for bit; the linear schedule's rate does, so it is refused.
    /// </summary>
    [Test]
    public void AFinishedRunExtendedWithMoreStepsIsBitIdenticalToTheLongerRun()
    {
        string longer = NewPath("twenty"), extended = NewPath("ten-then-twenty");
        Assert.That(MezoProcess.Run(Train(longer, steps: 20)).ExitCode, Is.EqualTo(0));
        Assert.That(MezoProcess.Run(Train(extended, steps: 10)).ExitCode, Is.EqualTo(0));

        var result = MezoProcess.Run("train", "--out", extended, "--resume", "--steps", "20");
        Assert.That(result.ExitCode, Is.EqualTo(0), result.Error);
        Assert.That(result.Output, Does.Contain("extending the run from 10 to 20 steps"));
        Assert.That(Weights(extended), Is.EqualTo(Weights(longer)));
        Assert.That(TrajectoryLog.Read(Path.Combine(extended, TrajectoryLog.FileName)).Records,
            Is.EqualTo(TrajectoryLog.Read(Path.Combine(longer, TrajectoryLog.FileName)).Records));
        Assert.That(RunManifest.Read(extended).Settings.Steps, Is.EqualTo(20), "run.json records the new length");

        string linear = NewPath("linear");
        Assert.That(MezoProcess.Run(Train(linear, steps: 10, more: ["--lr-schedule", "linear"])).ExitCode, Is.EqualTo(0));
        MezoProcess.AssertOneLineError(MezoProcess.Run("train", "--out", linear, "--resume", "--steps", "20"),
            "only a run with the constant schedule can be extended");
    }

    [Test]
    public void ResumeRefusesAChangedConfigTokenizerOrDataFileNamingIt()
    {
        string model = Copy(_model), data = Copy(_data), run = NewPath("run");
        using (var killed = MezoProcess.Start(Train(run, steps: 12, model: model, data: data)))
            killed.KillWhen(() => File.Exists(Path.Combine(run, "checkpoint", RunState.FileName)), "the first checkpoint is written");
        var manifest = RunManifest.Read(run);
        Assert.That(manifest.BaseFilesSha256!["config.json"], Is.EqualTo(Sha256(Path.Combine(model, "config.json"))));
        Assert.That(manifest.BaseFilesSha256!["tokenizer.json"], Is.EqualTo(Sha256(Path.Combine(model, "tokenizer.json"))));
        Assert.That(manifest.DataFilesSha256!.Keys, Is.EquivalentTo(new[] { "train.tsv", "dev.tsv", "test.tsv" }));
        Assert.That(manifest.DataFilesSha256!["train.tsv"], Is.EqualTo(Sha256(Path.Combine(data, "train.tsv"))));

        void RefusedAfter(string file, Func<string, string> change)
        {
            string original = File.ReadAllText(file);
            File.WriteAllText(file, change(original));
            try
            {
                MezoProcess.AssertOneLineError(MezoProcess.Run("train", "--out", run, "--resume"), $"--resume: {file} has changed since the run started");
                Assert.That(Directory.Exists(Path.Combine(run, "model")), Is.False, "nothing was trained on the changed file");
            }
            finally
            {
                File.WriteAllText(file, original);
            }
        }
        RefusedAfter(Path.Combine(model, "config.json"), config => config.Replace("\"torch_dtype\"", "\"init_std\": 0.5, \"torch_dtype\""));
        RefusedAfter(Path.Combine(model, "tokenizer.json"), tokenizer => tokenizer + "\n");
        RefusedAfter(Path.Combine(data, "train.tsv"), train =>
        {
            var lines = train.Split('\n');
            return string.Join('\n', lines.Take(1).Concat(lines.Skip(1).Reverse()));
        });

        var resumed = MezoProcess.Run("train", "--out", run, "--resume");
        Assert.That(resumed.ExitCode, Is.EqualTo(0), resumed.Error);
        Assert.That(File.ReadAllBytes(Path.Combine(run, "model", "config.json")), Is.EqualTo(File.ReadAllBytes(Path.Combine(model, "config.json"))));
    }
}
