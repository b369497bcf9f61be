using System.Globalization;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Training;
using ScottPlot;

namespace MeZO.Trainer.Runs;

/// <summary>
/// loss.png and eval.png of a run folder, drawn from metrics.jsonl. Each says what it shows on its own: the task, the
/// model and the learning rate in its title, the quantity on its axis. eval.png marks the best validation step (the
/// weights best/ holds, which the test after training scores) and the test results before and after training, on the
/// metric's whole range.
/// </summary>
public static class Plots
{
    public static void Write(RunFolder run, TrainSettings settings, string metric, long? bestStep)
    {
        if (LossPlot(run.Directory, settings) is { } loss) Save(loss, run.LossPlot);
        if (EvalPlot(run.Directory, settings, metric, bestStep) is { } eval) Save(eval, run.EvalPlot);
    }

    /// <summary>The training objective against the step; null when metrics.jsonl has no training line.</summary>
    internal static Plot? LossPlot(string runDirectory, TrainSettings settings)
    {
        var points = MetricsLog.Series(runDirectory, "train", "loss");
        if (points.Count == 0) return null;
        var plot = new Plot();
        var line = plot.Add.Scatter(points.Select(p => p.Step).ToArray(), points.Select(p => p.Value).ToArray());
        line.MarkerSize = points.Count > 50 ? 0 : 4;
        // A metric objective is minimised as its negation (BatchObjective), and metrics.jsonl logs what was minimised.
        string objective = settings.Objective switch
        {
            Objective.Loss => "loss (cross-entropy, nat)",
            var other => "−" + MetricName(other.ToString().ToLowerInvariant()),
        };
        plot.Title($"{settings.Task}: training {objective}\n{About(settings)}");
        plot.XLabel("step");
        plot.YLabel($"{objective}, mean of each {settings.LogEvery} steps");
        return plot;
    }

    /// <summary>Validation and test results against the step; null when metrics.jsonl has no validation line.</summary>
    internal static Plot? EvalPlot(string runDirectory, TrainSettings settings, string metric, long? bestStep)
    {
        var validation = MetricsLog.Series(runDirectory, "validation", "value");
        if (validation.Count == 0) return null;
        string name = MetricName(metric);
        var plot = new Plot();
        var line = plot.Add.Scatter(validation.Select(p => p.Step).ToArray(), validation.Select(p => p.Value).ToArray());
        line.MarkerSize = validation.Count > 50 ? 0 : 4;
        line.LegendText = "validation";

        // Step 0 is the model as given: best/ is written only for a later step, and without one the test scores the last.
        if (bestStep is > 0 && validation.FirstOrDefault(p => p.Step == bestStep) is { Step: > 0 } best)
        {
            var marker = plot.Add.Marker(best.Step, best.Value, MarkerShape.OpenCircle, 14, Colors.Red);
            marker.LegendText = string.Create(CultureInfo.InvariantCulture, $"best validation: step {best.Step:N0} (best/)");
        }
        var test = MetricsLog.Series(runDirectory, "test", "value");
        if (test.Count > 0)
        {
            var points = plot.Add.Scatter(test.Select(p => p.Step).ToArray(), test.Select(p => p.Value).ToArray(), Colors.Black);
            points.LineWidth = 0;
            points.MarkerShape = MarkerShape.FilledSquare;
            points.MarkerSize = 8;
            string values = string.Join(", ", test.Select(p => string.Create(CultureInfo.InvariantCulture,
                $"{(p.Step == 0 ? "before" : "after")} {p.Value:F3}")));
            points.LegendText = $"test ({values})";
        }

        plot.Title($"{settings.Task}: validation {name}\n{About(settings)}");
        plot.XLabel("step");
        plot.YLabel(name);
        // Both metrics the evaluator reports, accuracy and F1, lie in [0, 1]: the whole range, so a rise from 0.50 to
        // 0.52 looks as small as it is.
        plot.Axes.SetLimitsY(0, 1);
        plot.ShowLegend(Alignment.LowerRight);
        return plot;
    }

    private static string MetricName(string metric) => metric == "f1" ? "F1" : metric;

    /// <summary>
    /// "model models/opt-125m, lr 1e-6": what the run trained and how fast; the schedule when it is not constant. The
    /// model folder with its parent, since a folder's own name is often just "model" (the bundled default's is).
    /// </summary>
    internal static string About(TrainSettings settings)
    {
        string folder = Path.TrimEndingDirectorySeparator(Path.GetFullPath(settings.Model));
        string? parent = Path.GetFileName(Path.GetDirectoryName(folder));
        string model = string.IsNullOrEmpty(parent) ? Path.GetFileName(folder) : $"{parent}/{Path.GetFileName(folder)}";
        string rate = settings.LearningRate.ToString("0.###e+0", CultureInfo.InvariantCulture);
        string schedule = settings.Schedule == ScheduleKind.Constant ? "" : $" ({settings.Schedule.ToString().ToLowerInvariant()} schedule)";
        string peft = settings.Peft is { } kind ? $" with {kind.ToString().ToLowerInvariant()}" : "";
        return $"model {model}{peft}, lr {rate}{schedule}";
    }

    private static void Save(Plot plot, string path)
    {
        string temporary = path + ".tmp.png";
        plot.SavePng(temporary, 800, 500);
        File.Move(temporary, path, overwrite: true);
    }
}
