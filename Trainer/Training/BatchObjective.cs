using MeZO.Trainer.Runs;
using MeZO.Trainer.Tasks;

namespace MeZO.Trainer.Training;

/// <summary>
/// The number MeZO minimises on a batch: the task's loss (cross-entropy over candidates for classification, teacher
/// forcing otherwise) or, for the paper's §3.4, the negative of a non-differentiable metric (accuracy, F1).
/// </summary>
public sealed class BatchObjective(TaskKind kind, Objective objective, CandidateScorer scorer, Evaluator evaluator)
{
    public static void Validate(TaskKind kind, Objective objective)
    {
        if (objective == Objective.Accuracy && kind == TaskKind.Generation)
            throw new MeZO.Engine.InvalidInputException("--objective accuracy applies to classification and multiple-choice tasks; use f1 for generation tasks");
        if (objective == Objective.F1 && kind != TaskKind.Generation)
            throw new MeZO.Engine.InvalidInputException("--objective f1 applies to generation tasks (squad, drop); use accuracy for this task");
    }

    public double Of(IReadOnlyList<EncodedExample> batch) => objective switch
    {
        Objective.Loss when kind == TaskKind.Classification => CandidateScorer.ClassificationLoss(batch, scorer.Scores(batch)),
        Objective.Loss => scorer.TeacherForcedLoss(batch),
        Objective.Accuracy => -Accuracy(batch),
        Objective.F1 => -MeanF1(batch),
        _ => throw new ArgumentOutOfRangeException(nameof(objective)),
    };

    private double Accuracy(IReadOnlyList<EncodedExample> batch)
    {
        var predictions = evaluator.Predict(batch);
        return batch.Where((e, i) => e.Example.IsCorrect(predictions[i])).Count() / (double)batch.Count;
    }

    private double MeanF1(IReadOnlyList<EncodedExample> batch)
    {
        var answers = evaluator.GenerateAnswers(batch);
        return batch.Select((e, i) => SquadMetrics.F1(answers[i], e.Example.GoldAnswers)).Average();
    }
}
