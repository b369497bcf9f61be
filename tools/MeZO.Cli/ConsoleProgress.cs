using System.Diagnostics;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Training;

namespace MeZO.Cli;

/// <summary>
/// Training progress on stderr: a bar redrawn in place on a terminal, or one line every few seconds when redirected
/// (so logs stay readable).
/// </summary>
internal sealed class ConsoleProgress : IProgressSink
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private double _lastPrint = double.NegativeInfinity;
    private long _firstStep = -1;

    public void Report(long step, long totalSteps, double loss, double examplesPerSecond)
    {
        if (_firstStep < 0) _firstStep = step;
        double now = _clock.Elapsed.TotalSeconds;
        if (now - _lastPrint < (_interactive ? 0.25 : 5.0) && step < totalSteps) return;
        _lastPrint = now;
        double stepsPerSecond = (step - _firstStep + 1) / Math.Max(now, 1e-9);
        var eta = TimeSpan.FromSeconds(Math.Max(0, (totalSteps - step) / Math.Max(stepsPerSecond, 1e-9)));
        const int width = 30;
        int filled = (int)(width * step / Math.Max(1, totalSteps));
        string line = $"[{new string('#', filled)}{new string('.', width - filled)}] step {step}/{totalSteps}  loss {loss:F4}  " +
                      $"{examplesPerSecond:F1} ex/s  ETA {eta:hh\\:mm\\:ss}";
        if (_interactive) Console.Error.Write("\r" + line + "   ");
        else Console.Error.WriteLine(line);
    }

    public void Done()
    {
        if (_interactive) Console.Error.WriteLine();
    }
}
