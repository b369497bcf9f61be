using System.Runtime.InteropServices;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Training;

namespace MeZO.Cli;

/// <summary>
/// On SIGINT (Ctrl+C) or SIGTERM, one line on stderr before the process ends as the signal says: how far the run got,
/// where it continues from, and the command that continues it. Nothing has to be saved first: the trajectory reaches
/// the disk before each update and checkpoints are renamed into place whole, so the run may end at any instruction.
/// </summary>
internal sealed class InterruptNotice : IDisposable
{
    private readonly PosixSignalRegistration[] _registrations;

    private InterruptNotice(TrainingRun run, string outDirectory)
    {
        string folder = Path.GetFullPath(outDirectory);
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, context => Report(context.Signal, run, folder)),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => Report(context.Signal, run, folder)),
        ];
    }

    public static InterruptNotice Register(TrainingRun run, string outDirectory) => new(run, outDirectory);

    private static void Report(PosixSignal signal, TrainingRun run, string folder)
    {
        long done = run.CompletedSteps, checkpoint = run.CheckpointStep;
        string line;
        if (!File.Exists(Path.Combine(folder, RunManifest.FileName)))
            line = "before the run began; nothing to resume: start it again";
        else
        {
            string progress = done < 0 ? "before training began" : $"after {done} steps";
            string from = checkpoint >= 0 ? $"the last checkpoint is at step {checkpoint}" : "there is no checkpoint yet";
            string replayed = done > Math.Max(checkpoint, 0) ? $", the {done - Math.Max(checkpoint, 0)} steps after it replay from the trajectory" : "";
            line = $"{progress}; {from}{replayed}; continue with: mezo train --out {Quoted(folder)} --resume";
        }
        // A progress bar may be half drawn on a terminal: start a line of our own.
        Console.Error.WriteLine($"{(Console.IsErrorRedirected ? "" : "\n")}mezo train: interrupted ({signal}) {line}");
    }

    private static string Quoted(string path) => path.Contains(' ') || path.Contains('\'') ? $"'{path.Replace("'", "'\\''")}'" : path;

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
    }
}
