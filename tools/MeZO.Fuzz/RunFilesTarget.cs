using MeZO.Engine;
using MeZO.Trainer.Runs;

namespace MeZO.Fuzz;

/// <summary>
/// The input is given to each reader that resume and replay use: as run.json, as a checkpoint's state.json and as
/// trajectory.jsonl. Each reader runs whatever the others made of it, so one input exercises all three.
/// </summary>
public static class RunFilesTarget
{
    public static void Read(byte[] input, ScratchFolder scratch)
    {
        scratch.Write(RunManifest.FileName, input);
        scratch.Write(RunState.FileName, input);
        string trajectory = scratch.Write(TrajectoryLog.FileName, input);
        Refusing(() =>
        {
            // Resume compares these settings with the new ones, and builds its session from them.
            var manifest = RunManifest.Read(scratch.Path);
            _ = manifest.Settings.WithFullPaths().WithoutBookkeeping().DifferencesFrom(manifest.Settings);
        });
        Refusing(() => RunState.Read(scratch.Path));
        Refusing(() => TrajectoryLog.Read(trajectory));
    }

    // Each reader may refuse the input on its own, without keeping the next reader from running.
    private static void Refusing(Action read)
    {
        try
        {
            read();
        }
        catch (InvalidInputException)
        {
        }
    }
}
