namespace MeZO.Trainer.Runs;

/// <summary>loss.png and eval.png of a run folder, drawn from metrics.jsonl.</summary>
public static class Plots
{
    public static void Write(RunFolder run)
    {
        Draw(MetricsLog.Series(run.Directory, "train", "loss"), "training loss", "loss", run.LossPlot);
        var eval = MetricsLog.Series(run.Directory, "validation", "value");
        if (eval.Count > 0) Draw(eval, "validation metric", "metric", run.EvalPlot);
    }

    private static void Draw(IReadOnlyList<(double Step, double Value)> points, string title, string label, string path)
    {
        if (points.Count == 0) return;
        var plot = new ScottPlot.Plot();
        var line = plot.Add.Scatter(points.Select(p => p.Step).ToArray(), points.Select(p => p.Value).ToArray());
        line.MarkerSize = points.Count > 50 ? 0 : 4;
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel(label);
        string temporary = path + ".tmp.png";
        plot.SavePng(temporary, 800, 450);
        File.Move(temporary, path, overwrite: true);
    }
}
