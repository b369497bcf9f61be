using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;
using ScottPlot;
using ScottPlot.Plottables;

namespace MeZO.Trainer.Tests.Runs;

/// <summary>loss.png and eval.png say what they show: metric, task, model, rate, best step, test points, 0–1 range.</summary>
public sealed class PlotsTests
{
    private static readonly TrainSettings Settings = new() { Model = "/models/opt-125m", Task = "sst2", Data = "/d", LearningRate = 1e-6 };

    // Validation peaks at step 200 (0.75); the test scores 0.50 before training and 0.72 after, with best/'s weights.
    private const string Metrics = """
        {"kind":"validation","step":0,"metric":"accuracy","value":0.5}
        {"kind":"test","step":0,"metric":"accuracy","value":0.5}
        {"kind":"train","step":100,"loss":0.69,"lr":1e-6}
        {"kind":"validation","step":100,"metric":"accuracy","value":0.625}
        {"kind":"train","step":200,"loss":0.6,"lr":1e-6}
        {"kind":"validation","step":200,"metric":"accuracy","value":0.75}
        {"kind":"train","step":300,"loss":0.55,"lr":1e-6}
        {"kind":"validation","step":300,"metric":"accuracy","value":0.6875}
        {"kind":"test","step":300,"metric":"accuracy","value":0.72}

        """;

    [Test]
    public void TheEvalPlotNamesItsMetricTaskModelAndRateAndMarksTheBestStepAndTheTests()
    {
        using var folder = new TemporaryFolder();
        folder.Write(MetricsLog.FileName, Metrics);

        var plot = Plots.EvalPlot(folder.Path, Settings, "accuracy", bestStep: 200)!;

        Assert.That(plot.Axes.Title.Label.Text, Is.EqualTo("sst2: validation accuracy\nmodel models/opt-125m, lr 1e-6"));
        Assert.That(plot.Axes.Left.Label.Text, Is.EqualTo("accuracy"));
        Assert.That(plot.Axes.Bottom.Label.Text, Is.EqualTo("step"));
        var best = plot.GetPlottables<Marker>().Single();
        Assert.That((best.X, best.Y), Is.EqualTo((200.0, 0.75)));
        Assert.That(best.LegendText, Does.Contain("best validation: step 200"));
        var test = plot.GetPlottables<Scatter>().Single(s => s.LegendText.StartsWith("test", StringComparison.Ordinal));
        Assert.That(test.Data.GetScatterPoints().Select(p => (p.X, p.Y)), Is.EqualTo(new[] { (0.0, 0.5), (300.0, 0.72) }));
        Assert.That(test.LegendText, Is.EqualTo("test (before 0.500, after 0.720)"));

        // The whole range of an accuracy, also once drawn (drawing autoscales axes whose limits were never set).
        plot.GetImage(400, 300).Dispose();
        var limits = plot.Axes.GetLimits();
        Assert.That((limits.Bottom, limits.Top), Is.EqualTo((0.0, 1.0)));
    }

    [Test]
    public void AnF1RunWithoutABetterStepHasNoBestMarker()
    {
        using var folder = new TemporaryFolder();
        folder.Write(MetricsLog.FileName, Metrics.Replace("accuracy", "f1"));
        var settings = Settings with { Task = "squad", LearningRate = 5e-4, Schedule = ScheduleKind.Linear };

        // Best at step 0: the model as given, which best/ does not hold.
        var plot = Plots.EvalPlot(folder.Path, settings, "f1", bestStep: 0)!;

        Assert.That(plot.Axes.Title.Label.Text, Is.EqualTo("squad: validation F1\nmodel models/opt-125m, lr 5e-4 (linear schedule)"));
        Assert.That(plot.Axes.Left.Label.Text, Is.EqualTo("F1"));
        Assert.That(plot.GetPlottables<Marker>(), Is.Empty);
        var limits = plot.Axes.GetLimits();
        Assert.That((limits.Bottom, limits.Top), Is.EqualTo((0.0, 1.0)));
    }

    [Test]
    public void TheLossPlotNamesTheObjectiveAndWriteLeavesBothImages()
    {
        using var folder = new TemporaryFolder();
        folder.Write(MetricsLog.FileName, Metrics);
        var settings = Settings with { LogEvery = 100 };

        var loss = Plots.LossPlot(folder.Path, settings)!;
        Assert.That(loss.Axes.Title.Label.Text, Is.EqualTo("sst2: training loss (cross-entropy, nat)\nmodel models/opt-125m, lr 1e-6"));
        Assert.That(loss.Axes.Left.Label.Text, Is.EqualTo("loss (cross-entropy, nat), mean of each 100 steps"));
        Assert.That(Plots.LossPlot(folder.Path, settings with { Objective = Objective.Accuracy })!.Axes.Left.Label.Text,
            Does.StartWith("−accuracy"), "a metric objective is minimised as its negation");

        var run = new RunFolder(folder.Path);
        Plots.Write(run, settings, "accuracy", bestStep: 200);
        foreach (string png in new[] { run.LossPlot, run.EvalPlot })
            Assert.That(File.ReadAllBytes(png)[..4], Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }), png);
    }
}
