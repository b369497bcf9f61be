using System.Diagnostics;
using System.Text;
using MeZO.Trainer.Runs;
using Spectre.Console;

namespace MeZO.Cli;

/// <summary>
/// Progress on stderr: on a terminal, Spectre.Console's live display (a bar for the steps, one for each other piece of
/// work: loading, validation, test); otherwise a plain line every few seconds, so a log stays readable. The ETA comes
/// from the steps' own rate (<see cref="EtaClock"/>): neither loading nor evaluation counts.
/// </summary>
internal static class ConsoleProgress
{
    /// <summary>
    /// Runs <paramref name="body"/> with a progress sink and the writer its log lines go to: <paramref name="output"/>,
    /// or on a terminal the live display's console, which keeps them above the bars.
    /// </summary>
    public static T Run<T>(TextWriter output, Func<IProgressSink, TextWriter, T> body)
    {
        if (Console.IsErrorRedirected || Console.IsOutputRedirected) return body(new PlainProgress(Console.Error), output);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Progress()
            .AutoClear(true)
            .HideCompleted(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(context => result = body(new LiveProgress(context), new ConsoleLines(console)));
        return result;
    }

    /// <summary>The text of a training report: the step, the loss, the throughput and the ETA once the rate is known.</summary>
    internal static string Describe(long step, long totalSteps, double loss, double examplesPerSecond, TimeSpan? remaining) =>
        $"step {step}/{totalSteps}  loss {loss:F4}  {examplesPerSecond:F1} ex/s  ETA {(remaining is { } r ? r.ToString(@"hh\:mm\:ss") : "…")}";

    /// <summary>How far a piece of work is: bytes for loading, items otherwise.</summary>
    private static string Detail(string what, long done, long total) =>
        what == "loading" ? $"{done / (double)(1 << 20):F1}/{total / (double)(1 << 20):F1} MiB" : $"{done}/{total}";

    /// <summary>A line every few seconds, each piece of work's last line always.</summary>
    private sealed class PlainProgress(TextWriter error) : IProgressSink
    {
        private const double Seconds = 5.0;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly EtaClock _eta = new();
        private double _lastPrint = double.NegativeInfinity;

        public void Report(long step, long totalSteps, double loss, double examplesPerSecond)
        {
            _eta.Step(step, _clock.Elapsed);
            if (!Due() && step < totalSteps) return;
            error.WriteLine("[train] " + Describe(step, totalSteps, loss, examplesPerSecond, _eta.Remaining(step, totalSteps)));
        }

        public void Working(string what, long done, long total)
        {
            if (done < total) _eta.Pause(_clock.Elapsed);
            else _eta.Resume(_clock.Elapsed);
            if (Due() || done >= total) error.WriteLine($"[{what}] {Detail(what, done, total)}");
        }

        private bool Due()
        {
            double now = _clock.Elapsed.TotalSeconds;
            if (now - _lastPrint < Seconds) return false;
            _lastPrint = now;
            return true;
        }

        public void Done() { }
    }

    /// <summary>Spectre's bars: one for training, one per piece of other work while it runs.</summary>
    private sealed class LiveProgress(ProgressContext context) : IProgressSink
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly EtaClock _eta = new();
        private ProgressTask? _training;
        private readonly Dictionary<string, ProgressTask> _work = [];

        public void Report(long step, long totalSteps, double loss, double examplesPerSecond)
        {
            _eta.Step(step, _clock.Elapsed);
            _training ??= context.AddTask("training", maxValue: totalSteps);
            _training.MaxValue = totalSteps;
            _training.Value = step;
            _training.Description = Markup.Escape(Describe(step, totalSteps, loss, examplesPerSecond, _eta.Remaining(step, totalSteps)));
            context.Refresh();
        }

        public void Working(string what, long done, long total)
        {
            if (!_work.TryGetValue(what, out var task) || task.IsFinished)
                _work[what] = task = context.AddTask(Markup.Escape(what), maxValue: Math.Max(1, total));
            if (done < total) _eta.Pause(_clock.Elapsed);
            else _eta.Resume(_clock.Elapsed);
            task.Description = Markup.Escape($"{what} {Detail(what, done, total)}");
            task.Value = done;
            if (done >= total) task.StopTask();
            context.Refresh();
        }

        public void Done() => _training?.StopTask();
    }

    /// <summary>Whole lines written through the live display's console, which prints them above the bars.</summary>
    private sealed class ConsoleLines(IAnsiConsole console) : TextWriter
    {
        private readonly StringBuilder _line = new();

        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value)
        {
            if (value == '\n')
            {
                console.WriteLine(_line.ToString());
                _line.Clear();
            }
            else if (value != '\r') _line.Append(value);
        }
    }
}
