using MeZO.Tests.Common;
using MeZO.Trainer.Default;
using MeZO.Trainer.Runs;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// `mezo train --resume` after the process was killed for real (SIGKILL) at several moments ends with the weights of
/// an uninterrupted run, byte for byte, and a trajectory with every (step, sample) exactly once.
/// </summary>
[Category(TestSpeed.Slow)]
public class ResumeAfterKillTests : BundledDefaultFixture
{
    private const int Steps = 30, Samples = 2, CheckpointEvery = 10;


    private string[] Train(string run, bool resume, int evalEvery = 8) =>
    [
        "train", "--model", _model, "--task", "sst2", "--data", _data, "--out", run,
        "--train-examples", "64", "--eval-examples", "16", "--test-examples", "16", "--steps", $"{Steps}", "--batch-size", "8",
        "--samples", $"{Samples}", "--weight-decay", "0.1", "--lr", "1e-3", "--checkpoint-every", $"{CheckpointEvery}",
        "--eval-every", $"{evalEvery}", "--log-every", "5", "--seed", "7", .. resume ? new[] { "--resume" } : [],
    ];

    [Test]
    public void ARunKilledAtSeveralMomentsResumesToTheUninterruptedWeightsByteForByte()
    {
        string reference = Path.Combine(_root, "uninterrupted"), run = Path.Combine(_root, "interrupted");
        var uninterrupted = MezoProcess.Run(Train(reference, resume: false));
        Assert.That(uninterrupted.ExitCode, Is.EqualTo(0), uninterrupted.Error);

        string checkpointState = Path.Combine(run, "checkpoint", RunState.FileName);
        long CheckpointStep() => RunState.Read(Path.Combine(run, "checkpoint")).CompletedSteps;

        // 1. Right after run.json is written: before the first evaluation and before any trajectory line.
        KillWhen(Train(run, resume: false), () => File.Exists(Path.Combine(run, RunManifest.FileName)), "run.json appears");

        // 2. Before the first checkpoint: two steps done.
        KillWhen(Train(run, resume: true), () => TrajectoryLines(run) >= 2 * Samples, "step 2 begins");
        Assert.That(File.Exists(checkpointState), Is.False, "killed before the first checkpoint");

        // 3. After the first checkpoint, once step 12's first record is on disk: its second record and its updates may
        //    or may not have followed (a step cut short among its records is taken again).
        KillWhen(Train(run, resume: true), () => TrajectoryLines(run) >= 12 * Samples + 1, "step 12's first sample is recorded");
        Assert.That(CheckpointStep(), Is.EqualTo(CheckpointEvery), "killed after the first checkpoint, before the second");

        // 4. While the second checkpoint is written (its temporary folder exists), or just after if that was too quick to see.
        KillWhen(Train(run, resume: true), () => Directory.EnumerateDirectories(run, "checkpoint.tmp-*").Any() ||
                                                 TrajectoryLines(run) >= 2 * CheckpointEvery * Samples + 1, "the second checkpoint is written");

        // 5. During a later step: step 23's first record on disk, the rest of the step under way.
        KillWhen(Train(run, resume: true), () => TrajectoryLines(run) >= 23 * Samples + 1, "step 23's first sample is recorded");
        // The checkpoint at step 20 is missing when kill 4 interrupted it: the run resumed past step 20 from the one at 10.
        Assert.That(CheckpointStep(), Is.EqualTo(CheckpointEvery).Or.EqualTo(2 * CheckpointEvery));

        var finished = MezoProcess.Run(Train(run, resume: true));
        Assert.That(finished.ExitCode, Is.EqualTo(0), finished.Error);

        Assert.That(Weights(run, "model"), Is.EqualTo(Weights(reference, "model")), "model/ after resuming equals the uninterrupted run's");
        Assert.That(RunState.Read(Path.Combine(run, "checkpoint")), Is.EqualTo(RunState.Read(Path.Combine(reference, "checkpoint"))),
            "the final state: steps, best validation metric and its step");
        var (records, _) = TrajectoryLog.Read(Path.Combine(run, TrajectoryLog.FileName));
        var expected = Enumerable.Range(0, Steps).SelectMany(t => Enumerable.Range(0, Samples).Select(q => ((long)t, q)));
        Assert.That(records.Select(r => (r.Step, r.Sample)), Is.EqualTo(expected), "every (step, sample) once, in order");
        Assert.That(records, Is.EqualTo(TrajectoryLog.Read(Path.Combine(reference, TrajectoryLog.FileName)).Records),
            "the same seeds, projected gradients and losses as the uninterrupted run");
        Assert.That(Directory.EnumerateDirectories(run).Select(Path.GetFileName).Where(d => d!.Contains(".tmp-") || d.Contains(".old-")), Is.Empty,
            "no temporary folder of an interrupted checkpoint is left behind");
    }

    [Test]
    public void AFullDiskWhileCheckpointingKeepsThePreviousCheckpointAndTheRunResumes()
    {
        // Without validation, so that the first folder written after the first checkpoint is the second checkpoint.
        string reference = Path.Combine(_root, "full-disk-reference"), run = Path.Combine(_root, "full-disk");
        var uninterrupted = MezoProcess.Run(Train(reference, resume: false, evalEvery: 0));
        Assert.That(uninterrupted.ExitCode, Is.EqualTo(0), uninterrupted.Error);
        KillWhen(Train(run, resume: false, evalEvery: 0), () => File.Exists(Path.Combine(run, "checkpoint", RunState.FileName)) &&
            TrajectoryLines(run) >= (CheckpointEvery + 1) * Samples, "the first checkpoint is written");
        byte[] checkpoint = Weights(run, "checkpoint");

        // A full disk, simulated by a file size limit (ulimit -f, KiB) below one weight file (75,200 float32 = 294 KiB) and
        // far above the trajectory and metrics: writing fails with EFBIG as it would with ENOSPC. SIGXFSZ is ignored so that
        // the write fails rather than the process; the runtime's W^X double mapping is off because it maps through a file.
        using (var limited = MezoProcess.Start(Train(run, resume: true, evalEvery: 0),
                   shell: "export DOTNET_EnableWriteXorExecute=0; trap '' XFSZ; ulimit -f 128;"))
        {
            var result = limited.WaitForExit();
            Assert.That(result.ExitCode, Is.EqualTo(1), result.Output + result.Error);
            Assert.That(MezoProcess.ErrorLines(result.Error), Has.Length.EqualTo(1).And.One.Contains(
                $"{Path.Combine(run, "checkpoint")}: writing the model folder failed, the folder is unchanged"));
        }
        Assert.That(RunState.Read(Path.Combine(run, "checkpoint")).CompletedSteps, Is.EqualTo(CheckpointEvery));
        Assert.That(Weights(run, "checkpoint"), Is.EqualTo(checkpoint), "the previous checkpoint is intact");
        Assert.That(Directory.EnumerateFileSystemEntries(run).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "run.json", "trajectory.jsonl", "metrics.jsonl", "checkpoint", RunFolderLock.LockFileName }),
            "nothing half-written is left (the lock file stays: deleting it would let two processes lock two files)");

        var finished = MezoProcess.Run(Train(run, resume: true, evalEvery: 0));
        Assert.That(finished.ExitCode, Is.EqualTo(0), finished.Error);
        Assert.That(Weights(run, "model"), Is.EqualTo(Weights(reference, "model")));
    }

    private static void KillWhen(string[] args, Func<bool> condition, string moment)
    {
        using var mezo = MezoProcess.Start(args);
        mezo.KillWhen(condition, moment);
        TestContext.Progress.WriteLine($"killed when {moment}");
    }

    /// <summary>Complete lines so far (the file may be half-way through a line that the run is writing).</summary>
    internal static int TrajectoryLines(string run)
    {
        string path = Path.Combine(run, TrajectoryLog.FileName);
        if (!File.Exists(path)) return 0;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Count(c => c == '\n');
    }

    private static byte[] Weights(string run, string folder) => File.ReadAllBytes(Path.Combine(run, folder, "model.safetensors"));
}
