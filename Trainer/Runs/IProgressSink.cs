namespace MeZO.Trainer.Runs;

/// <summary>Where a run's progress goes (a live display on a terminal, periodic lines otherwise).</summary>
public interface IProgressSink
{
    /// <summary>Training reached <paramref name="step"/> of <paramref name="totalSteps"/>.</summary>
    void Report(long step, long totalSteps, double loss, double examplesPerSecond);

    /// <summary>
    /// Work that is not a training step — loading the model, a validation or test pass — reached <paramref name="done"/>
    /// of <paramref name="total"/> (done = total: finished). Its time is not the steps': an ETA leaves it out.
    /// </summary>
    void Working(string what, long done, long total) { }

    void Done();
}
