using MeZO.Trainer.Optimizer;

namespace MeZO.Trainer.Training;

/// <summary>What watches a <see cref="StepLoop"/>: a run folder's recorder, a test, a program's own logging.</summary>
public interface IStepObserver
{
    /// <summary>A MeZO sample's record, before any update of its step is applied: the moment a trajectory must have it.</summary>
    void Recorded(StepRecord record);

    /// <summary>
    /// Step <paramref name="step"/> is done, its updates applied: step + 1 steps are complete. <paramref name="loss"/> is
    /// the step's training loss (MeZO: the mean of its samples' (L+ + L−)/2); <paramref name="records"/> its MeZO
    /// samples (none for a first-order step).
    /// </summary>
    void Completed(long step, double loss, IReadOnlyList<StepRecord> records);
}
