using MeZO.Engine.Mezo;
using System.Diagnostics;
using MeZO.Engine;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Runs;

namespace MeZO.Trainer.Training;

/// <summary>What a finished run reports.</summary>
public sealed record TrainResult(EvalResult? ValidationBefore, EvalResult? ValidationBest, long? BestStep,
    EvalResult? TestBefore, EvalResult? Test, long Steps, TimeSpan Elapsed, long PeakBytes);

/// <summary>
/// `mezo train`: MeZO on a task, in a run folder that makes the run replayable and resumable (DESIGN §4). The data
/// order, the seeds and the updates are functions of (settings, step) alone; the trajectory reaches the disk before
/// each update; weights are checkpointed atomically. A run killed at any moment resumes to the same final weights.
/// </summary>
public sealed class TrainingRun(TrainSettings settings, string outDirectory, bool resume, TextWriter log, IProgressSink? progress = null)
{
    private readonly TrainSettings settings = settings.WithFullPaths();
    private long _completedSteps = -1, _checkpointStep = -1;

    /// <summary>Steps completed so far; -1 before training began. Safe to read from another thread (a signal handler).</summary>
    public long CompletedSteps => Volatile.Read(ref _completedSteps);

    /// <summary>The step of the last checkpoint in the run folder, or -1 when it has none. Safe to read from another thread.</summary>
    public long CheckpointStep => Volatile.Read(ref _checkpointStep);

    public TrainResult Run()
    {
        var run = new RunFolder(outDirectory);
        Validate(run);
        var clock = Stopwatch.StartNew();
        // Held until the run ends: a second process on the same folder would interleave two runs' files.
        using var owner = RunFolderLock.Acquire(run.Directory);
        var manifest = resume ? CheckResume(run) : CheckNew(run);

        using var session = TrainingSession.Open(settings.SessionOptions());
        BatchObjective.Validate(session.Task.Kind, settings.Objective);
        if (session.Train.Count == 0) throw new InvalidInputException($"{settings.Task}: no training examples after sampling");
        var notes = new List<string>(session.Notes);
        if (manifest is not null)
            manifest.RequireSameData(settings.Data, session.DataFiles, run.Manifest, notes);
        foreach (string note in notes) log.WriteLine("note: " + note);

        var trainable = TrainableSet.Select(session.Model.Weights, settings.Trainable);
        var optimizer = new ZerothOrderSgd(trainable, settings.Eps, settings.WeightDecay, settings.Seed, settings.Samples);
        var schedule = new LearningRateSchedule(settings.Schedule, settings.LearningRate, settings.Steps);
        var batches = new BatchSchedule(session.Train.Count, settings.BatchSize, settings.Seed);
        var objective = new BatchObjective(session.Task.Kind, settings.Objective, session.Scorer, session.Evaluator);
        log.WriteLine($"model {session.Model.Spec.ModelType} ({session.Model.Weights.ParameterCount:N0} parameters, " +
                      $"{trainable.ElementCount:N0} trainable), task {session.Task.Name}: {session.Train.Count} train / " +
                      $"{session.Validation.Count} validation / {session.Test.Count} test examples");

        long startStep = 0;
        int startSample = 0;
        var best = new BestValidation();
        EvalResult? validationBefore = null, testBefore = null;
        long trajectoryBytes = 0;
        if (manifest is not null)
        {
            (startStep, startSample, validationBefore, trajectoryBytes) = Restore(run, session, optimizer, best);
            if (manifest.Settings.Steps != settings.Steps)
            {
                log.WriteLine($"extending the run from {manifest.Settings.Steps} to {settings.Steps} steps");
                (manifest with { Settings = manifest.Settings with { Steps = settings.Steps } }).Write(run.Directory);
            }
        }
        else
        {
            new RunManifest
            {
                Settings = settings,
                BaseModel = settings.Model,
                BaseWeightsSha256 = RunManifest.HashWeights(settings.Model),
                BaseFilesSha256 = RunManifest.HashSideFiles(settings.Model),
                DataFilesSha256 = session.DataFiles,
                EngineVersion = RunManifest.EngineVersionString,
                TrainableParameters = trainable.ElementCount,
                Created = DateTimeOffset.UtcNow,
            }.Write(run.Directory);
            File.Delete(run.Trajectory);
            File.Delete(run.Metrics);
        }

        using var trajectory = TrajectoryLog.OpenForAppend(run.Directory, trajectoryBytes);
        using var metrics = new MetricsLog(run.Directory);
        if (startStep == 0 && startSample == 0)
        {
            validationBefore = Evaluate(session, session.Validation, "validation", 0, metrics, log);
            testBefore = Evaluate(session, session.Test, "test", 0, metrics, log);
            best.Offer(validationBefore, 0, run, session, settings);
        }

        Volatile.Write(ref _completedSteps, startStep);
        try
        {
            Train(run, session, optimizer, schedule, batches, objective, best, trajectory, metrics, startStep, startSample);
        }
        catch (TrainingStoppedException stopped)
        {
            throw new InvalidInputException($"{stopped.Message}; training stopped, {WhatIsKept(run)}", stopped);
        }
        progress?.Done();

        session.Model.Weights.Save(run.Model, RunFolder.ModelSideFiles(settings.Model));
        SaveCheckpoint(run, session, new RunState(settings.Steps, best.Metric, best.Step));
        EvalResult? validationBest = null;
        if (best.Step is > 0 && Directory.Exists(run.Best))
        {
            // The test split is scored with the weights of the best validation result, as MeZO reports it.
            session.Model.Weights.Restore(run.Best);
            validationBest = new EvalResult(session.Evaluator.Metric, best.Metric!.Value, null, session.Validation.Count);
        }
        var test = Evaluate(session, session.Test, "test", settings.Steps, metrics, log);
        Plots.Write(run);
        return new TrainResult(validationBefore, validationBest, best.Step, testBefore, test, settings.Steps, clock.Elapsed,
            session.Backend.Memory.PeakTotal);
    }

    /// <summary>
    /// The steps from <paramref name="startStep"/> (its samples from <paramref name="startSample"/>) to the last, with their
    /// logging, validations and checkpoints; ends by checking the final weights' loss is finite.
    /// </summary>
    private void Train(RunFolder run, TrainingSession session, ZerothOrderSgd optimizer, LearningRateSchedule schedule,
        BatchSchedule batches, BatchObjective objective, BestValidation best, TrajectoryLog trajectory, MetricsLog metrics,
        long startStep, int startSample)
    {
        var window = new List<double>();
        var stepClock = Stopwatch.StartNew();
        long tokensAtWindow = session.Scorer.TokensProcessed;
        for (long step = startStep; step < settings.Steps; step++)
        {
            var batch = BatchOf(step, batches, session);
            var records = optimizer.Step(step, schedule.At(step), plus => objective.Of(batch, plus), trajectory.Append,
                step == startStep ? startSample : 0);
            foreach (var r in records) window.Add((r.LossPlus + r.LossMinus) / 2);
            long done = step + 1;
            Volatile.Write(ref _completedSteps, done);

            if (done % Math.Max(1, settings.LogEvery) == 0 || done == settings.Steps)
            {
                double seconds = stepClock.Elapsed.TotalSeconds;
                long tokens = session.Scorer.TokensProcessed - tokensAtWindow;
                double loss = window.Count > 0 ? window.Average() : double.NaN;
                int windowSteps = Math.Max(1, window.Count / Math.Max(1, settings.Samples));
                metrics.Write(new Dictionary<string, object?>
                {
                    ["kind"] = "train", ["step"] = done, ["loss"] = loss, ["lr"] = schedule.At(step),
                    ["examples_per_s"] = windowSteps * settings.BatchSize / seconds, ["tokens_per_s"] = tokens / seconds,
                    ["memory_weights"] = session.Backend.Memory.Current(MemoryCategory.Weights),
                    ["memory_activations"] = session.Backend.Memory.Current(MemoryCategory.Activations),
                    ["memory_workspace"] = session.Backend.Memory.Current(MemoryCategory.Workspace),
                    ["memory_peak"] = session.Backend.Memory.PeakTotal,
                });
                progress?.Report(done, settings.Steps, loss, windowSteps * settings.BatchSize / seconds);
                window.Clear();
                stepClock.Restart();
                tokensAtWindow = session.Scorer.TokensProcessed;
            }
            if (IsValidationStep(done))
                best.Offer(Evaluate(session, session.Validation, "validation", done, metrics, log), done, run, session, settings);
            if (settings.CheckpointEvery > 0 && done % settings.CheckpointEvery == 0 && done < settings.Steps)
            {
                RequireFiniteLoss(done, batches, session, objective);
                SaveCheckpoint(run, session, new RunState(done, best.Metric, best.Step));
            }
        }
        RequireFiniteLoss(settings.Steps, batches, session, objective);
    }

    /// <summary>What a stopped run leaves to come back to: its last checkpoint, if it has one.</summary>
    private static string WhatIsKept(RunFolder run) =>
        Directory.Exists(run.Checkpoint)
            ? $"the last good checkpoint (step {RunState.Read(run.Checkpoint).CompletedSteps}) is kept in {run.Checkpoint}"
            : "before its first checkpoint: the run folder holds no trained weights";

    /// <summary>Validation runs every EvalEvery steps and after the last step.</summary>
    private bool IsValidationStep(long done) => settings.EvalEvery > 0 && (done % settings.EvalEvery == 0 || done == settings.Steps);

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
        if (File.Exists(run.Directory)) throw new InvalidInputException($"--out {run.Directory} is a file, not a run folder");
        if (resume && !Directory.Exists(run.Directory)) throw NoRunToResume(run);
    }

    private static InvalidInputException NoRunToResume(RunFolder run) =>
        new($"{run.Directory} holds no run to resume (no {RunManifest.FileName})");

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
        if (!run.HoldsRun) throw NoRunToResume(run);
        var manifest = RunManifest.Read(run.Directory);
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

    /// <summary>
    /// Loads the last checkpoint, replays the trajectory past it, and says where training continues. The validations an
    /// uninterrupted run made in the replayed steps (and before step 0, when there is no checkpoint) are made again,
    /// so the best result and best/ end as they would have: the killed run may have died before or after any of them.
    /// Their metrics lines are not written again.
    /// </summary>
    private (long Step, int Sample, EvalResult? ValidationBefore, long TrajectoryBytes) Restore(RunFolder run, TrainingSession session,
        ZerothOrderSgd optimizer, BestValidation best)
    {
        run.DeleteInterruptedWrites();
        long checkpointStep = 0;
        if (Directory.Exists(run.Checkpoint))
        {
            var state = RunState.Read(run.Checkpoint);
            session.Model.Weights.Restore(run.Checkpoint);
            checkpointStep = state.CompletedSteps;
            Volatile.Write(ref _checkpointStep, checkpointStep);
            best.Restore(state.BestMetric, state.BestStep);
        }
        var (records, bytes) = File.Exists(run.Trajectory) ? TrajectoryLog.Read(run.Trajectory) : ([], 0);
        var replayed = records.Where(r => r.Step >= checkpointStep).ToArray();
        long done = replayed.Length > 0 ? replayed[^1].Step + 1 : checkpointStep;
        if (done > settings.Steps)
            throw new InvalidInputException($"--resume: --steps {settings.Steps} is fewer than the {done} steps the run has taken ({run.Trajectory})");
        EvalResult? validationBefore = null;
        if (checkpointStep == 0 && replayed.Length > 0 && session.Validation.Count > 0)
        {
            validationBefore = session.Evaluator.Evaluate(session.Validation, settings.MicroBatchSize);
            best.Offer(validationBefore, 0, run, session, settings);
        }
        long step = checkpointStep;
        int sample = 0;
        foreach (var r in replayed)
        {
            if (r.Step != step || r.Sample != sample)
                throw new InvalidInputException($"{run.Trajectory}: expected step {step} sample {sample}, found step {r.Step} sample {r.Sample}");
            optimizer.Replay(r);
            if (++sample < settings.Samples) continue;
            (step, sample) = (step + 1, 0);
            if (IsValidationStep(step) && session.Validation.Count > 0)
                best.Offer(session.Evaluator.Evaluate(session.Validation, settings.MicroBatchSize), step, run, session, settings);
        }
        log.WriteLine($"resuming at step {step}{(sample > 0 ? $" sample {sample}" : "")} (checkpoint at step {checkpointStep}, {step - checkpointStep} steps replayed from the trajectory)");
        return (step, sample, validationBefore, bytes);
    }

    /// <summary>
    /// A step's update can leave weights at which the loss is no longer finite; only the next step's L+ would show it.
    /// Before such weights are saved, the loss of the next step's batch is computed at them (one forward pass per
    /// checkpoint), so a checkpoint is never worse than the one it replaces.
    /// </summary>
    private static void RequireFiniteLoss(long done, BatchSchedule batches, TrainingSession session, BatchObjective objective)
    {
        double loss = objective.Of(BatchOf(done, batches, session));
        if (!double.IsFinite(loss)) throw new NonFiniteLossException(done, loss);
    }

    /// <summary>The training examples of <paramref name="step"/>.</summary>
    private static EncodedExample[] BatchOf(long step, BatchSchedule batches, TrainingSession session) =>
        batches.IndicesOf(step).Select(i => session.Train[i]).ToArray();

    /// <summary>Weights and state.json go into the checkpoint folder in one atomic rename, so they always agree.</summary>
    private void SaveCheckpoint(RunFolder run, TrainingSession session, RunState state)
    {
        string pending = run.StatePending;
        Directory.CreateDirectory(pending);
        try
        {
            string stateFile = Path.Combine(pending, RunState.FileName);
            AtomicFile.WriteAllText(stateFile, state.ToJson());
            session.Model.Weights.Save(run.Checkpoint, RunFolder.ModelSideFiles(settings.Model).Append(stateFile));
            Volatile.Write(ref _checkpointStep, state.CompletedSteps);
        }
        finally
        {
            Directory.Delete(pending, recursive: true);
        }
    }

    private EvalResult? Evaluate(TrainingSession session, IReadOnlyList<EncodedExample> examples, string split, long step, MetricsLog metrics, TextWriter output)
    {
        if (examples.Count == 0) return null;
        var result = session.Evaluator.Evaluate(examples, settings.MicroBatchSize);
        metrics.Write(new Dictionary<string, object?>
        {
            ["kind"] = split, ["step"] = step, ["metric"] = result.Metric, ["value"] = result.Value,
            ["exact_match"] = result.ExactMatch, ["examples"] = result.Examples,
        });
        output.WriteLine($"step {step}: {split} {result}");
        return result;
    }
}

/// <summary>Where training progress goes (a progress bar on a terminal, periodic lines otherwise).</summary>
public interface IProgressSink
{
    void Report(long step, long totalSteps, double loss, double examplesPerSecond);
    void Done();
}
