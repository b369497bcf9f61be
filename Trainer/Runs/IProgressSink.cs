namespace MeZO.Trainer.Runs;

/// <summary>Where training progress goes (a progress bar on a terminal, periodic lines otherwise).</summary>
public interface IProgressSink
{
    void Report(long step, long totalSteps, double loss, double examplesPerSecond);
    void Done();
}
