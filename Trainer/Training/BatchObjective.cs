using MeZO.Engine.Distributed;
using MeZO.Engine.Mezo;
using MeZO.Trainer.Tasks;

namespace MeZO.Trainer.Training;

/// <summary>
/// The number MeZO minimises on a batch: the task's loss (cross-entropy over candidates for classification, teacher
/// forcing otherwise: a text's tokens for language modelling) or, for the paper's §3.4, the negative of a non-differentiable metric (accuracy, F1).
/// Its forward calls are shared out over <paramref name="ranks"/>: a data-parallel job's when it shares out the batch,
/// this process alone (the default) otherwise.
/// </summary>
public sealed class BatchObjective(TaskKind kind, Objective objective, CandidateScorer scorer, Evaluator evaluator, ICommunicator? ranks = null)
{
    private readonly ICommunicator _ranks = ranks ?? SingleProcess.Instance;

    public static void Validate(TaskKind kind, Objective objective)
    {
        if (objective == Objective.Accuracy && kind is not (TaskKind.Classification or TaskKind.MultipleChoice))
            throw new MeZO.Engine.InvalidInputException("--objective accuracy applies to classification and multiple-choice tasks" +
                                                        (kind == TaskKind.Generation ? "; use f1 for generation tasks" : "; text is trained on its loss"));
        if (objective == Objective.F1 && kind != TaskKind.Generation)
            throw new MeZO.Engine.InvalidInputException("--objective f1 applies to generation tasks (squad, drop, jsonl completions)" +
                                                        (kind == TaskKind.LanguageModeling ? "; text is trained on its loss" : "; use accuracy for this task"));
    }

    /// <summary>The objective on a batch at the stored weights θ.</summary>
    public double Of(IReadOnlyList<EncodedExample> batch) => objective switch
    {
        Objective.Loss when kind == TaskKind.Classification => CandidateScorer.ClassificationLoss(batch, scorer.Scores(batch, _ranks)),
        Objective.Loss => scorer.TeacherForcedLoss(batch, _ranks),
        Objective.Accuracy => -Accuracy(batch, evaluator.Predict(batch, _ranks)),
        Objective.F1 => -MeanF1(batch, null),
        _ => throw new ArgumentOutOfRangeException(nameof(objective)),
    };

    /// <summary>
    /// MeZO's two values on a batch: the objective under <paramref name="plus"/> and under its −ε twin. Scoring
    /// objectives run both in one lockstep sweep of the model; F1 generates under each in turn.
    /// </summary>
    public LossPair Of(IReadOnlyList<EncodedExample> batch, WeightPerturbation plus)
    {
        switch (objective)
        {
            case Objective.Loss when kind == TaskKind.Classification:
                var (scoresPlus, scoresMinus) = scorer.ScoresLockstep(batch, plus, _ranks);
                return new LossPair(CandidateScorer.ClassificationLoss(batch, scoresPlus), CandidateScorer.ClassificationLoss(batch, scoresMinus));
            case Objective.Loss:
                var (lossPlus, lossMinus) = scorer.TeacherForcedLossLockstep(batch, plus, _ranks);
                return new LossPair(lossPlus, lossMinus);
            case Objective.Accuracy:
                var (predictedPlus, predictedMinus) = scorer.ScoresLockstep(batch, plus, _ranks);
                return new LossPair(-Accuracy(batch, Evaluator.Best(predictedPlus)), -Accuracy(batch, Evaluator.Best(predictedMinus)));
            case Objective.F1:
                return new LossPair(-MeanF1(batch, plus), -MeanF1(batch, MezoStep.Minus(plus)));
            default:
                throw new ArgumentOutOfRangeException(nameof(objective));
        }
    }

    private static double Accuracy(IReadOnlyList<EncodedExample> batch, int[] predictions) =>
        batch.Where((e, i) => e.Example.IsCorrect(predictions[i])).Count() / (double)batch.Count;

    private double MeanF1(IReadOnlyList<EncodedExample> batch, WeightPerturbation? perturbation)
    {
        var answers = evaluator.GenerateAnswers(batch, perturbation, _ranks);
        return batch.Select((e, i) => SquadMetrics.F1(answers[i], e.Example.GoldAnswers)).Average();
    }
}
