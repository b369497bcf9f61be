using System.Diagnostics;
using MeZO.Engine;
using MeZO.Engine.Distributed;
using MeZO.Engine.Models.Gradients;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Training;

namespace MeZO.Trainer.Runs;

/// <summary>
/// `mezo train`: MeZO on a task, in a run folder that makes the run replayable and resumable (DESIGN §4). The data
/// order, the seeds and the updates are functions of (settings, step) alone; the trajectory reaches the disk before
/// each update; weights are checkpointed atomically. A run killed at any moment resumes to the same final weights.
/// In a data-parallel job every rank runs this with the same settings and <paramref name="ranks"/>: the ranks share
/// the forward passes and compute the same steps, and rank 0 alone writes the run folder.
/// </summary>
public sealed class TrainingRun(TrainSettings settings, string outDirectory, bool resume, TextWriter log, IProgressSink? progress = null,
    ICommunicator? ranks = null)
{
    private readonly ICommunicator ranks = ranks ?? SingleProcess.Instance;
    private readonly TrainSettings settings = settings.WithFullPaths();
    private RunRecorder? _recorder;

    /// <summary>Steps completed so far; -1 before training began. Safe to read from another thread (a signal handler).</summary>
    public long CompletedSteps => Volatile.Read(ref _recorder)?.CompletedSteps ?? -1;

    /// <summary>The step of the last checkpoint in the run folder, or -1 when it has none. Safe to read from another thread.</summary>
    public long CheckpointStep => Volatile.Read(ref _recorder)?.CheckpointStep ?? -1;

    public TrainResult Run()
    {
        var run = new RunFolder(outDirectory);
        Validate(run);
        var clock = Stopwatch.StartNew();
        // Held until the run ends: a second process on the same folder would interleave two runs' files. Rank 0 is the
        // job's writer; the other ranks only read the folder.
        using var owner = ranks.Rank == 0 ? RunFolderLock.Acquire(run.Directory) : null;
        var manifest = resume ? CheckResume(run) : CheckNew(run);
        // Every rank has found the folder as it was before rank 0 writes into it.
        ranks.Barrier();

        using var session = TrainingSession.Open(KeepingActivations(manifest), progress is null ? null : progress.Working, ranks);
        if (session.Train.Count == 0) throw new InvalidInputException($"{settings.Task}: no training examples after sampling");
        var notes = new List<string>(session.Notes);
        manifest?.RequireSameData(settings.Data, session.DataFiles, run.Manifest, notes);
        foreach (string note in notes) log.WriteLine("note: " + note);

        using var loop = new StepLoop(session, settings);
        log.WriteLine($"model {session.Model.Spec.ModelType} ({session.Model.Weights.ParameterCount:N0} parameters, " +
                      $"{loop.Trainable.ElementCount:N0} trainable), task {session.Task.Name}: {session.Train.Count} train / " +
                      $"{session.Validation.Count} validation / {session.Test.Count} test examples");
        try
        {
            using var recorder = new RunRecorder(run, settings, session, loop, manifest, log, progress, ranks);
            Volatile.Write(ref _recorder, recorder);
            loop.Run(recorder.StartStep, settings.Steps, recorder);
            return recorder.Finish(clock.Elapsed);
        }
        catch (TrainingStoppedException stopped)
        {
            throw new InvalidInputException($"{stopped.Message}; training stopped, {WhatIsKept(run)}", stopped);
        }
    }

    /// <summary>
    /// The settings to open the session with: these, except that a resumed run given no --compute computes in the dtype it
    /// began in. Its backend's default may differ from this one's (CUDA's bf16 for a bf16 model against the CPU's float32),
    /// and a switch would change every loss from here on without a word.
    /// </summary>
    private TrainSettings KeepingActivations(RunManifest? resumed) =>
        resumed?.Activations is { } began && settings.Compute is null ? settings with { Compute = began } : settings;

    /// <summary>What a stopped run leaves to come back to: its last checkpoint, if it has one.</summary>
    private static string WhatIsKept(RunFolder run) =>
        Directory.Exists(run.Checkpoint)
            ? $"the last good checkpoint (step {RunState.Read(run.Checkpoint).CompletedSteps}) is kept in {run.Checkpoint}"
            : "before its first checkpoint: the run folder holds no trained weights";

    private void Validate(RunFolder run)
    {
        if (settings.Steps < 0) throw new InvalidInputException("--steps must not be negative");
        if (settings.BatchSize <= 0 || settings.MicroBatchSize <= 0) throw new InvalidInputException("--batch-size and --micro-batch-size must be positive");
        if (settings.Samples <= 0) throw new InvalidInputException("--samples must be positive");
        if (!(settings.Eps > 0)) throw new InvalidInputException("--eps must be positive");
        // A negative rate would climb the loss and a negative decay would grow the weights, both without a word.
        if (settings.LearningRate < 0) throw new InvalidInputException("--lr must not be negative");
        if (settings.WeightDecay < 0) throw new InvalidInputException("--weight-decay must not be negative");
        if (settings.EvalEvery < 0 || settings.CheckpointEvery < 0 || settings.LogEvery < 0)
            throw new InvalidInputException("--eval-every, --checkpoint-every and --log-every must not be negative (0: never)");
        // Known from the settings alone, so refused before the lock makes the run folder.
        if (settings.FirstOrder && ModelGradient.Refusal(settings.MaxDeviceMemory is not null, settings.ComputeToLoad!.Value) is { } refusal)
            throw new InvalidInputException(refusal);
        if (File.Exists(run.Directory)) throw new InvalidInputException($"--out {run.Directory} is a file, not a run folder");
        // Checked before the lock, which would make the folder.
        if (resume && !run.HoldsRun) throw run.NoRunToResume();
    }

    /// <summary>A new run needs a folder that holds none (checked under the lock: another process may have just made one).</summary>
    private RunManifest? CheckNew(RunFolder run)
    {
        if (run.HoldsRun)
            throw new InvalidInputException($"{run.Directory} already holds a run; pass --resume to continue it or choose another --out");
        return null;
    }

    /// <summary>
    /// The run's manifest, once the settings given equal the run's (all but the bookkeeping ones; a constant-rate run may
    /// be given more steps) and the base model's weights, config and tokenizer are the files the run started from.
    /// </summary>
    private RunManifest CheckResume(RunFolder run)
    {
        var manifest = run.ManifestToResume();
        var recorded = manifest.Settings.WithFullPaths();
        var differences = recorded.WithoutBookkeeping().DifferencesFrom(settings.WithoutBookkeeping());
        if (differences.Count > 0) throw new SettingsMismatchException(run.Manifest, differences);
        // The linear schedule's rate at every step depends on the total: more steps would change the steps already taken.
        if (settings.Steps != recorded.Steps && settings.Schedule != ScheduleKind.Constant)
            throw new InvalidInputException($"--resume: --steps {settings.Steps} differs from the run's {recorded.Steps}; only a run " +
                                            "with the constant schedule can be extended (the linear rate depends on the total steps)");
        var notes = new List<string>();
        manifest.RequireSameBase(settings.Model, run.Manifest, notes);
        foreach (string note in notes) log.WriteLine("note: " + note);
        return manifest;
    }
}
