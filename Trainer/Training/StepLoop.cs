using MeZO.Engine;
using MeZO.Engine.Distributed;
using MeZO.Engine.Mezo;
using MeZO.Trainer.Optimizer;

namespace MeZO.Trainer.Training;

/// <summary>
/// The steps over a session's training split, the one loop that `mezo train`, the tests and a program that embeds the
/// trainer run. Step t trains on the batch <see cref="BatchSchedule"/> draws for t, at the rate the schedule gives t:
/// with MeZO, with the seeds ZO-SGD derives from (run seed, t); with backprop (<see cref="TrainSettings.FirstOrder"/>),
/// with the batch's exact gradient. A step is a function of (settings, t) and the weights alone, which is what makes a
/// run resumable and extensible, and a MeZO run replayable. In a data-parallel job (the session's ranks) every rank
/// runs this loop in step with the others and computes the same steps as one process would.
/// </summary>
public sealed class StepLoop : IDisposable
{
    private readonly TrainingSession _session;
    private readonly TrainSettings _settings;
    private readonly BatchSchedule _batches;
    private readonly LearningRateSchedule _schedule;
    private readonly BatchObjective _objective;
    private readonly GradientScorer? _gradients;
    private readonly ICommunicator? _samplesOver;

    public StepLoop(TrainingSession session, TrainSettings settings)
    {
        BatchObjective.Validate(session.Task.Kind, settings.Objective);
        _session = session;
        _settings = settings;
        Trainable = session.SelectTrainable(settings.Trainable);
        _schedule = new LearningRateSchedule(settings.Schedule, settings.LearningRate, settings.Steps);
        _batches = new BatchSchedule(session.Train.Count, settings.BatchSize, settings.Seed);
        var ranks = session.Ranks;
        bool shareSamples = settings.Distribute == DistributeKind.Samples && ranks.Size > 1;
        _samplesOver = shareSamples ? ranks : null;
        _objective = new BatchObjective(session.Task.Kind, settings.Objective, session.Scorer, session.Evaluator,
            shareSamples ? SingleProcess.Instance : ranks);
        Objective = _objective.Of;
        if (!settings.FirstOrder)
        {
            ZerothOrder = new ZerothOrderSgd(Trainable, settings.Eps, settings.WeightDecay, settings.Seed, settings.Samples);
            return;
        }
        if (ranks.Size > 1)
            throw new InvalidInputException($"--optimizer {FirstOrderOptimizer.Spelling(settings.Optimizer)} runs in one process: the " +
                                            $"{ranks.Size} ranks of this job would have to exchange gradients, and only MeZO's steps, " +
                                            "which exchange losses, are spread over ranks");
        FirstOrderSetup.Check(session, settings, Trainable);
        try
        {
            _gradients = new GradientScorer(session.Model, session.Scorer.MaxSequences, session.Scorer.MaxLength,
                Trainable.Tensors.Select(t => t.Parameter.Tensor).ToArray(), settings.GradientCheckpointing, session.Scorer.Workspace);
            FirstOrder = new FirstOrderOptimizer(Trainable, session.Backend, settings.Optimizer, settings.WeightDecay, settings.AdamBeta1,
                settings.AdamBeta2, settings.AdamEpsilon, settings.MaxGradNorm);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public TrainableSet Trainable { get; }

    /// <summary>MeZO's optimizer, for replaying a trajectory's records onto the weights; null for a first-order run.</summary>
    public ZerothOrderSgd? ZerothOrder { get; }

    /// <summary>The first-order optimizer and its state; null for a MeZO run.</summary>
    public FirstOrderOptimizer? FirstOrder { get; }

    /// <summary>
    /// What a MeZO step minimises on its batch under a perturbation and its −ε twin: the settings' objective unless a
    /// program puts its own here (any number forward passes give: a reward, a metric, the loss negated). First-order
    /// steps differentiate the settings' loss.
    /// </summary>
    public Func<IReadOnlyList<EncodedExample>, WeightPerturbation, LossPair> Objective { get; set; }

    /// <summary>Tokens the training steps' forward passes have processed (both streams of a MeZO step).</summary>
    public long TokensProcessed => _session.Scorer.TokensProcessed + (_gradients?.TokensProcessed ?? 0);

    /// <summary>The training examples of <paramref name="step"/>.</summary>
    public EncodedExample[] BatchOf(long step) => _batches.IndicesOf(step).Select(i => _session.Train[i]).ToArray();

    public double RateAt(long step) => _schedule.At(step);

    /// <summary>The settings' objective on <paramref name="step"/>'s batch at the stored weights, unperturbed.</summary>
    public double LossAt(long step) => _objective.Of(BatchOf(step));

    /// <summary>Steps [<paramref name="from"/>, <paramref name="to"/>). Without an observer, nobody watches.</summary>
    public void Run(long from, long to, IStepObserver? observer = null)
    {
        observer ??= NoObserver.Instance;
        for (long step = from; step < to; step++)
        {
            var batch = BatchOf(step);
            if (FirstOrder is not null)
            {
                observer.Completed(step, FirstOrderStep(step, batch), []);
                continue;
            }
            var records = ZerothOrder!.Step(step, RateAt(step), plus => Objective(batch, plus), observer.Recorded, _samplesOver);
            observer.Completed(step, records.Average(r => (r.LossPlus + r.LossMinus) / 2), records);
        }
    }

    /// <summary>Steps [0, the settings' steps), with no one watching: a test's or a program's whole run.</summary>
    public void Run() => Run(0, _settings.Steps);

    /// <summary>The batch's loss and gradient at θ, then the optimizer's update; returns the loss.</summary>
    private double FirstOrderStep(long step, EncodedExample[] batch)
    {
        _gradients!.Gradient.ZeroGradients();
        double loss = _gradients.AccumulateLoss(batch, _session.Task.Kind);
        // The weights are untouched until the update, so a bad loss or gradient leaves the last good ones as they are.
        if (!double.IsFinite(loss)) throw new NonFiniteLossException(step, loss, loss);
        FirstOrder!.Step(_gradients.Gradient, step, RateAt(step), loss);
        return loss;
    }

    public void Dispose()
    {
        FirstOrder?.Dispose();
        _gradients?.Dispose();
    }

    private sealed class NoObserver : IStepObserver
    {
        public static readonly NoObserver Instance = new();
        public void Recorded(StepRecord record) { }
        public void Completed(long step, double loss, IReadOnlyList<StepRecord> records) { }
    }
}
