using MeZO.Engine.Mezo;
using MeZO.Trainer.Optimizer;

namespace MeZO.Trainer.Training;

/// <summary>
/// MeZO's steps over a session's training split, the one loop that `mezo train`, the tests and a program that embeds
/// the trainer run. Step t trains on the batch <see cref="BatchSchedule"/> draws for t, at the rate the schedule gives
/// t, with the seeds ZO-SGD derives from (run seed, t): a step is a function of (settings, t) alone, which is what makes
/// a run replayable, resumable and extensible.
/// </summary>
public sealed class StepLoop
{
    private readonly TrainingSession _session;
    private readonly TrainSettings _settings;
    private readonly BatchSchedule _batches;
    private readonly LearningRateSchedule _schedule;
    private readonly BatchObjective _objective;

    public StepLoop(TrainingSession session, TrainSettings settings)
    {
        BatchObjective.Validate(session.Task.Kind, settings.Objective);
        _session = session;
        _settings = settings;
        Trainable = session.SelectTrainable(settings.Trainable);
        Optimizer = new ZerothOrderSgd(Trainable, settings.Eps, settings.WeightDecay, settings.Seed, settings.Samples);
        _schedule = new LearningRateSchedule(settings.Schedule, settings.LearningRate, settings.Steps);
        _batches = new BatchSchedule(session.Train.Count, settings.BatchSize, settings.Seed);
        _objective = new BatchObjective(session.Task.Kind, settings.Objective, session.Scorer, session.Evaluator);
        Objective = _objective.Of;
    }

    public TrainableSet Trainable { get; }

    /// <summary>The optimizer, for replaying a trajectory's records onto the weights.</summary>
    public ZerothOrderSgd Optimizer { get; }

    /// <summary>
    /// What a step minimises on its batch under a perturbation and its −ε twin: the settings' objective unless a program
    /// puts its own here (any number forward passes give: a reward, a metric, the loss negated).
    /// </summary>
    public Func<IReadOnlyList<EncodedExample>, WeightPerturbation, LossPair> Objective { get; set; }

    /// <summary>The training examples of <paramref name="step"/>.</summary>
    public EncodedExample[] BatchOf(long step) => _batches.IndicesOf(step).Select(i => _session.Train[i]).ToArray();

    public double RateAt(long step) => _schedule.At(step);

    /// <summary>The settings' objective on <paramref name="step"/>'s batch at the stored weights, unperturbed.</summary>
    public double LossAt(long step) => _objective.Of(BatchOf(step));

    /// <summary>
    /// Steps [<paramref name="from"/>, <paramref name="to"/>); the first starts at sample <paramref name="fromSample"/>
    /// (a run resumed between the samples of a step). Without an observer, nobody watches.
    /// </summary>
    public void Run(long from, long to, IStepObserver? observer = null, int fromSample = 0)
    {
        observer ??= NoObserver.Instance;
        for (long step = from; step < to; step++)
        {
            var batch = BatchOf(step);
            var records = Optimizer.Step(step, RateAt(step), plus => Objective(batch, plus), observer.Recorded,
                step == from ? fromSample : 0);
            observer.Completed(step, records);
        }
    }

    /// <summary>Steps [0, the settings' steps), with no one watching: a test's or a program's whole run.</summary>
    public void Run() => Run(0, _settings.Steps);

    private sealed class NoObserver : IStepObserver
    {
        public static readonly NoObserver Instance = new();
        public void Recorded(StepRecord record) { }
        public void Completed(long step, IReadOnlyList<StepRecord> records) { }
    }
}
