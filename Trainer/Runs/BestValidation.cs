using MeZO.Trainer.Training;

namespace MeZO.Trainer.Runs;

/// <summary>The best validation result so far and its step; best/ holds the weights of a best result after step 0.</summary>
internal sealed class BestValidation
{
    public double? Metric { get; private set; }
    public long? Step { get; private set; }

    public void Restore(double? metric, long? step) => (Metric, Step) = (metric, step);

    /// <summary>
    /// Keeps <paramref name="result"/> if it beats the best so far (ties keep the earlier), saving the weights after step
    /// 0 when this process <paramref name="writes"/> the run folder.
    /// </summary>
    public void Offer(EvalResult? result, long step, RunFolder run, TrainingSession session, TrainSettings settings, bool writes)
    {
        if (result is null || (Metric is double best && !(result.Value > best))) return;
        (Metric, Step) = (result.Value, step);
        if (step > 0 && writes) session.SaveTrained(run.Best, settings.Model, RunFolder.ModelSideFiles(settings.Model));
    }
}
