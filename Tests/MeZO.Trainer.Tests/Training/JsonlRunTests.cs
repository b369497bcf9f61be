using MeZO.Engine;
using MeZO.Tests.Common;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// `mezo train --task jsonl` on each kind of record, with MeZO and with backprop (AdamW), on stories260K: a short run
/// goes through, its losses are finite and move, and its reports (before/after, best validation, metrics.jsonl) carry
/// the kind's metric.
/// </summary>
public class JsonlRunTests
{
    public static IEnumerable<TestCaseData> Runs()
    {
        foreach (string kind in new[] { "classification", "completion", "text" })
            foreach (var optimizer in new[] { OptimizerKind.ZoSgd, OptimizerKind.AdamW })
                yield return new TestCaseData(kind, optimizer).SetName($"{kind}, {optimizer}");
    }

    [TestCaseSource(nameof(Runs))]
    public void AShortRunTrainsAndReportsTheKindsMetric(string kind, OptimizerKind optimizer)
    {
        using var folder = new TemporaryFolder();
        string records = StoryRecords.Jsonl(kind);
        folder.Write("train.jsonl", records);
        folder.Write("test.jsonl", records);
        string run = Path.Combine(folder.Path, "run");
        var settings = new TrainSettings
        {
            Model = SharedData.Path("models/stories260K"), Task = "jsonl", Data = folder.Path, TrainExamples = 8, EvalExamples = 4,
            TestExamples = 4, Seed = 5, Steps = 6, BatchSize = 4, MicroBatchSize = 4, EvalEvery = 3, CheckpointEvery = 0, LogEvery = 1,
            Optimizer = optimizer, LearningRate = optimizer == OptimizerKind.AdamW ? 1e-3 : 1e-4, Eps = 1e-3,
        };

        TrainResult result = new TrainingRun(settings, run, resume: false, TextWriter.Null).Run();

        string metric = kind switch { "classification" => "accuracy", "completion" => "f1", _ => EvalResult.LogLikelihood };
        Assert.That(result.Test!.Metric, Is.EqualTo(metric));
        Assert.That(double.IsFinite(result.Test.Value) && double.IsFinite(result.TestBefore!.Value), Is.True);
        var losses = MetricsLog.Series(run, "train", "loss").Select(point => point.Value).ToArray();
        TestContext.Out.WriteLine($"{kind} {optimizer}: losses {string.Join(" ", losses.Select(l => l.ToString("F4")))}; test {result.TestBefore} → {result.Test}");
        Assert.That(losses, Has.Length.EqualTo(6));
        Assert.That(losses, Has.All.Matches<double>(double.IsFinite));
        Assert.That(losses.Distinct().Count(), Is.GreaterThan(1), "the loss moves");

        // The best validation is the highest value: for text, the highest log-likelihood (the lowest perplexity).
        var validation = MetricsLog.Series(run, "validation", "value").Select(point => point.Value).ToArray();
        Assert.That(validation, Has.Length.EqualTo(3), "before training, after step 3 and after step 6");
        double best = result.BestStep is > 0 ? result.ValidationBest!.Value : result.ValidationBefore!.Value;
        Assert.That(best, Is.EqualTo(validation.Max()));
        if (kind == "text")
        {
            Assert.That(result.Test.Perplexity, Is.EqualTo(Math.Exp(-result.Test.Value)));
            var perplexities = MetricsLog.Series(run, "validation", "perplexity").Select(point => point.Value);
            Assert.That(perplexities, Is.EqualTo(validation.Select(v => Math.Exp(-v))).Within(1e-12).Percent);
        }
    }

    [Test]
    public void TextHasNoAnswersForDemonstrations()
    {
        using var folder = new TemporaryFolder();
        folder.Write("train.jsonl", StoryRecords.Jsonl("text"));
        folder.Write("test.jsonl", StoryRecords.Jsonl("text"));
        var error = Assert.Throws<InvalidInputException>(() => TrainingSession.Open(new SessionOptions
        {
            Model = SharedData.Path("models/stories260K"), Task = "jsonl", Data = folder.Path, TestExamples = 2, Demonstrations = 1,
        }))!;
        Assert.That(error.Message, Is.EqualTo("jsonl: the data is plain text, which has no answers for demonstrations to show"));
    }

    [Test]
    public void AccuracyIsNoObjectiveForText()
    {
        using var folder = new TemporaryFolder();
        folder.Write("train.jsonl", StoryRecords.Jsonl("text"));
        var settings = new TrainSettings
        {
            Model = SharedData.Path("models/stories260K"), Task = "jsonl", Data = folder.Path, TrainExamples = 4, EvalExamples = 0, TestExamples = 0, Steps = 1,
            BatchSize = 2, Objective = Objective.Accuracy,
        };
        var error = Assert.Throws<InvalidInputException>(() => new TrainingRun(settings, Path.Combine(folder.Path, "run"), resume: false, TextWriter.Null).Run())!;
        Assert.That(error.Message, Does.Contain("--objective accuracy applies to classification and multiple-choice tasks; text is trained on its loss"));
    }
}
