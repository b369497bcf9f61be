using System.Diagnostics;
using MeZO.Engine;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Distributed;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Training;

namespace MeZO.Trainer.Runs;

/// <summary>
/// A run folder as a <see cref="StepLoop"/> fills it (DESIGN §4): run.json, the trajectory (each record on disk before
/// its update), metrics, periodic checkpoints, the best validation's weights, and at the end the final model. It holds
/// the run's bookkeeping as its own state, so a step hands it nothing but the step's records. In a data-parallel job
/// every rank keeps the same bookkeeping and computes the same evaluations (they are shared out too), and rank 0 alone
/// writes the folder.
/// </summary>
internal sealed class RunRecorder : IStepObserver, IDisposable
{
    private readonly RunFolder _run;
    private readonly TrainSettings _settings;
    private readonly TrainingSession _session;
    private readonly StepLoop _loop;
    private readonly TextWriter _log;
    private readonly IProgressSink? _progress;
    private readonly BestValidation _best = new();
    private readonly ICommunicator _ranks;
    private readonly bool _writes;
    private readonly TrajectoryLog? _trajectory;
    private readonly MetricsLog? _metrics;
    private readonly List<double> _window = [];
    private readonly Stopwatch _windowClock = new();
    private long _windowTokens;
    private long _completedSteps = -1, _checkpointStep = -1;

    /// <summary>
    /// Starts recording into <paramref name="run"/>: a new run's manifest (<paramref name="resumed"/> null), or a resumed
    /// run's state restored from its last checkpoint and trajectory. Then the validation and test before training, when
    /// training is at its start.
    /// </summary>
    public RunRecorder(RunFolder run, TrainSettings settings, TrainingSession session, StepLoop loop, RunManifest? resumed,
        TextWriter log, IProgressSink? progress, ICommunicator ranks)
    {
        (_run, _settings, _session, _loop, _log, _progress, _ranks) = (run, settings, session, loop, log, progress, ranks);
        _writes = ranks.Rank == 0;
        long trajectoryBytes = 0;
        if (resumed is null && _writes)
        {
            new RunManifest
            {
                Settings = settings,
                BaseModel = settings.Model,
                BaseWeightsSha256 = RunManifest.HashWeights(settings.Model),
                BaseFilesSha256 = RunManifest.HashSideFiles(settings.Model),
                DataFilesSha256 = session.DataFiles,
                Activations = session.Model.Compute,
                EngineVersion = RunManifest.EngineVersionString,
                TrainableParameters = loop.Trainable.ElementCount,
                WorldSize = ranks.Size,
                Created = DateTimeOffset.UtcNow,
            }.Write(run.Directory);
            File.Delete(run.Trajectory);
            File.Delete(run.Metrics);
        }
        else if (resumed is not null)
        {
            trajectoryBytes = Restore();
            if (resumed.Settings.Steps != settings.Steps)
            {
                log.WriteLine($"extending the run from {resumed.Settings.Steps} to {settings.Steps} steps");
                if (_writes) (resumed with { Settings = resumed.Settings with { Steps = settings.Steps } }).Write(run.Directory);
            }
            if (resumed.WorldSize != ranks.Size)
                log.WriteLine($"note: the run began on {resumed.WorldSize} process(es) and continues on {ranks.Size}: the steps are the same");
        }
        // Every rank has read the trajectory before rank 0 cuts it back to its last complete step.
        ranks.Barrier();
        _trajectory = _writes ? TrajectoryLog.OpenForAppend(run.Directory, trajectoryBytes) : null;
        _metrics = _writes ? new MetricsLog(run.Directory) : null;
        if (StartStep == 0)
        {
            ValidationBefore = Evaluate(session.Validation, "validation", 0);
            TestBefore = Evaluate(session.Test, "test", 0);
            _best.Offer(ValidationBefore, 0, run, session, settings, _writes);
        }
        Volatile.Write(ref _completedSteps, StartStep);
        _windowClock.Start();
        _windowTokens = loop.TokensProcessed;
    }

    /// <summary>Where training continues.</summary>
    public long StartStep { get; private set; }

    public EvalResult? ValidationBefore { get; private set; }
    public EvalResult? TestBefore { get; private set; }

    /// <summary>Steps completed so far. Safe to read from another thread (a signal handler).</summary>
    public long CompletedSteps => Volatile.Read(ref _completedSteps);

    /// <summary>The step of the run folder's last checkpoint, or -1 when it has none. Safe to read from another thread.</summary>
    public long CheckpointStep => Volatile.Read(ref _checkpointStep);

    public void Recorded(StepRecord record) => _trajectory?.Append(record);

    public void Completed(long step, double loss, IReadOnlyList<StepRecord> records)
    {
        _window.Add(loss);
        long done = step + 1;
        Volatile.Write(ref _completedSteps, done);
        if (done % Math.Max(1, _settings.LogEvery) == 0 || done == _settings.Steps) WriteTrainingMetrics(step);
        if (IsValidationStep(done))
            _best.Offer(Evaluate(_session.Validation, "validation", done), done, _run, _session, _settings, _writes);
        if (_settings.CheckpointEvery > 0 && done % _settings.CheckpointEvery == 0 && done < _settings.Steps)
        {
            RequireFiniteLoss(done);
            if (_writes) SaveCheckpoint(new RunState(done, _best.Metric, _best.Step));
        }
    }

    /// <summary>
    /// After the last step: the final model and checkpoint, then the test split scored with the weights of the best
    /// validation result, as MeZO reports it.
    /// </summary>
    public TrainResult Finish(TimeSpan elapsed)
    {
        RequireFiniteLoss(_settings.Steps);
        _progress?.Done();
        if (_writes)
        {
            _session.SaveTrained(_run.Model, _settings.Model, RunFolder.ModelSideFiles(_settings.Model));
            SaveCheckpoint(new RunState(_settings.Steps, _best.Metric, _best.Step));
        }
        // best/ is rank 0's to write; the other ranks read it once it is surely written.
        _ranks.Barrier();
        EvalResult? validationBest = null;
        if (_best.Step is > 0 && Directory.Exists(_run.Best))
        {
            _session.RestoreTrained(_run.Best);
            validationBest = new EvalResult(_session.Evaluator.Metric, _best.Metric!.Value, null, _session.Validation.Count);
        }
        var test = Evaluate(_session.Test, "test", _settings.Steps);
        if (_writes) Plots.Write(_run, _settings, _session.Evaluator.Metric, _best.Step);
        return new TrainResult(ValidationBefore, validationBest, _best.Step, TestBefore, test, _settings.Steps, elapsed,
            _session.Backend.Memory.PeakTotal);
    }

    private void WriteTrainingMetrics(long step)
    {
        double seconds = _windowClock.Elapsed.TotalSeconds;
        long tokens = _loop.TokensProcessed - _windowTokens;
        double loss = _window.Count > 0 ? _window.Average() : double.NaN;
        int windowSteps = Math.Max(1, _window.Count);
        var memory = _session.Backend.Memory;
        _metrics?.Write(new Dictionary<string, object?>
        {
            ["kind"] = "train", ["step"] = step + 1, ["loss"] = loss, ["lr"] = _loop.RateAt(step),
            ["examples_per_s"] = windowSteps * _settings.BatchSize / seconds, ["tokens_per_s"] = tokens / seconds,
            ["memory_weights"] = memory.Current(MemoryCategory.Weights),
            ["memory_activations"] = memory.Current(MemoryCategory.Activations),
            ["memory_workspace"] = memory.Current(MemoryCategory.Workspace),
            ["memory_gradients"] = memory.Current(MemoryCategory.Gradients),
            ["memory_optimizer_state"] = memory.Current(MemoryCategory.OptimizerState),
            ["memory_peak"] = memory.PeakTotal,
        });
        _progress?.Report(step + 1, _settings.Steps, loss, windowSteps * _settings.BatchSize / seconds);
        _window.Clear();
        _windowClock.Restart();
        _windowTokens = _loop.TokensProcessed;
    }

    /// <summary>Validation runs every EvalEvery steps and after the last step.</summary>
    private bool IsValidationStep(long done) =>
        _settings.EvalEvery > 0 && (done % _settings.EvalEvery == 0 || done == _settings.Steps);

    /// <summary>
    /// Loads the last checkpoint, replays the trajectory past it, and sets where training continues; returns the bytes of
    /// the trajectory to keep: its complete steps. A step writes all its samples' records before it applies any update,
    /// so the records of a step cut short were never applied: they are dropped and the step is taken again, which
    /// writes the same records. The validations an uninterrupted run made in the replayed steps (and before step 0,
    /// when there is no checkpoint) are made again, so the best result and best/ end as they would have: the killed run
    /// may have died before or after any of them. Their metrics lines are not written again.
    /// </summary>
    private long Restore()
    {
        if (_writes) _run.DeleteInterruptedWrites();
        long checkpointStep = 0;
        if (Directory.Exists(_run.Checkpoint))
        {
            var state = RunState.Read(_run.Checkpoint);
            _session.RestoreTrained(_run.Checkpoint);
            checkpointStep = state.CompletedSteps;
            if (_loop.FirstOrder is { HasState: true } optimizer)
                optimizer.Restore(Path.Combine(_run.Checkpoint, FirstOrderOptimizer.StateFileName), checkpointStep);
            Volatile.Write(ref _checkpointStep, checkpointStep);
            _best.Restore(state.BestMetric, state.BestStep);
        }
        var (records, ends) = File.Exists(_run.Trajectory) ? TrajectoryLog.ReadLines(_run.Trajectory) : ([], []);
        int first = records.Count(r => r.Step < checkpointStep);
        var replayed = records.Skip(first).ToArray();
        // A first-order run writes no trajectory: its steps are taken again from the checkpoint.
        if (replayed.Length > 0 && _loop.ZerothOrder is null)
            throw new InvalidInputException($"{_run.Trajectory}: a first-order run has no trajectory, yet this one holds MeZO's records");
        long step = checkpointStep;
        int sample = 0;
        foreach (var r in replayed)
        {
            if (r.Step != step || r.Sample != sample)
                throw new InvalidInputException($"{_run.Trajectory}: expected step {step} sample {sample}, found step {r.Step} sample {r.Sample}");
            if (++sample == _settings.Samples) (step, sample) = (step + 1, 0);
        }
        int dropped = sample;
        var complete = replayed[..^dropped];
        if (step > _settings.Steps)
            throw new InvalidInputException($"--resume: --steps {_settings.Steps} is fewer than the {step} steps the run has taken ({_run.Trajectory})");
        if (checkpointStep == 0 && complete.Length > 0 && _session.Validation.Count > 0)
        {
            ValidationBefore = _session.Evaluator.Evaluate(_session.Validation, _settings.MicroBatchSize, Watch("validation"));
            _best.Offer(ValidationBefore, 0, _run, _session, _settings, _writes);
        }
        step = checkpointStep;
        foreach (var r in complete)
        {
            _loop.ZerothOrder!.Replay(r);
            if (r.Sample + 1 < _settings.Samples) continue;
            step++;
            if (IsValidationStep(step) && _session.Validation.Count > 0)
                _best.Offer(_session.Evaluator.Evaluate(_session.Validation, _settings.MicroBatchSize, Watch("validation")), step, _run, _session,
                    _settings, _writes);
        }
        _log.WriteLine($"resuming at step {step} (checkpoint at step {checkpointStep}, {step - checkpointStep} steps replayed from the trajectory" +
                       (dropped > 0 ? $"; step {step} was cut short after {dropped} of its {_settings.Samples} samples' records and is taken again)" : ")"));
        StartStep = step;
        int kept = first + complete.Length;
        return kept > 0 ? ends[kept - 1] : 0;
    }

    /// <summary>
    /// A step's update can leave weights at which the loss is no longer finite; only the next step's L+ would show it.
    /// Before such weights are saved, the loss of the next step's batch is computed at them (one forward pass per
    /// checkpoint), so a checkpoint is never worse than the one it replaces.
    /// </summary>
    private void RequireFiniteLoss(long done)
    {
        double loss = _loop.LossAt(done);
        if (!double.IsFinite(loss)) throw new NonFiniteLossException(done, loss);
    }

    /// <summary>Weights and state.json go into the checkpoint folder in one atomic rename, so they always agree.</summary>
    private void SaveCheckpoint(RunState state)
    {
        string pending = _run.StatePending;
        Directory.CreateDirectory(pending);
        try
        {
            string stateFile = Path.Combine(pending, RunState.FileName);
            AtomicFile.WriteAllText(stateFile, state.ToJson());
            var sideFiles = RunFolder.ModelSideFiles(_settings.Model).Append(stateFile);
            if (_loop.FirstOrder is { HasState: true } optimizer)
            {
                string optimizerFile = Path.Combine(pending, FirstOrderOptimizer.StateFileName);
                optimizer.Save(optimizerFile, state.CompletedSteps);
                sideFiles = sideFiles.Append(optimizerFile);
            }
            _session.SaveTrained(_run.Checkpoint, _settings.Model, sideFiles);
            Volatile.Write(ref _checkpointStep, state.CompletedSteps);
        }
        finally
        {
            Directory.Delete(pending, recursive: true);
        }
    }

    private EvalResult? Evaluate(IReadOnlyList<EncodedExample> examples, string split, long step)
    {
        if (examples.Count == 0) return null;
        var result = _session.Evaluator.Evaluate(examples, _settings.MicroBatchSize, Watch(split));
        _metrics?.Write(new Dictionary<string, object?>
        {
            ["kind"] = split, ["step"] = step, ["metric"] = result.Metric, ["value"] = result.Value,
            ["exact_match"] = result.ExactMatch, ["perplexity"] = result.Perplexity, ["examples"] = result.Examples,
        });
        _log.WriteLine($"step {step}: {split} {result}");
        return result;
    }

    /// <summary>The progress of an evaluation pass, for the sink (none when nobody watches).</summary>
    private Action<long, long>? Watch(string what) => _progress is { } sink ? (done, total) => sink.Working(what, done, total) : null;

    public void Dispose()
    {
        _trajectory?.Dispose();
        _metrics?.Dispose();
    }
}
