using MeZO.Trainer.Runs;

namespace MeZO.Trainer.Tests.Support;

/// <summary>What <see cref="StopAt"/> throws: a run stopped in-process, as a kill would stop it.</summary>
internal sealed class RunStopped : Exception;

/// <summary>Throws when step <paramref name="step"/> is reported: after its update, before its validation and checkpoint.</summary>
internal sealed class StopAt(long step) : IProgressSink
{
    public void Report(long done, long totalSteps, double loss, double examplesPerSecond)
    {
        if (done == step) throw new RunStopped();
    }

    public void Done()
    {
    }
}
