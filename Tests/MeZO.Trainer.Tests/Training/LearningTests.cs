using MeZO.Tests.Common;
using MeZO.Engine.Mezo;
using MeZO.Trainer.Default;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// MeZO learns: the bundled default run (its own settings: 4,000 steps of batch 16, a constant lr 5e-4, ε 1e-3,
/// seed 42) raises the test accuracy well above where it started, and the same budget with the update's sign flipped does not.
/// </summary>
[Category(TestSpeed.Slow)]
public class LearningTests
{
    // All 500 test sentences: for a fixed model the accuracy's standard error is at most √(0.25/500) ≈ 0.022.
    private const int TestExamples = 500;

    // Measured with run seeds 1–6 and 42: +0.24 to +0.47 over the 0.52 before training. 0.15 is more than six standard
    // errors, and below every measured gain.
    private const double LearnedMargin = 0.15;

    // Gradient ascent on the loss: at chance or below. 0.05 (over two standard errors) leaves room for noise only.
    private const double ControlMargin = 0.05;

    [Test]
    public void TheBundledDefaultLearnsAndASignFlippedUpdateDoesNot()
    {
        using var folder = new TemporaryFolder();
        // No validation (so the test split is scored with the final weights, as the control is) and no checkpoints.
        var settings = BundledDefault.Settings(BundledRun.Model, BundledRun.Data) with
        {
            EvalExamples = 0, TestExamples = TestExamples, EvalEvery = 0, CheckpointEvery = 0,
        };

        var trained = new TrainingRun(settings, Path.Combine(folder.Path, "run"), resume: false, TextWriter.Null).Run();
        double flipped = TestAccuracyAfterAscent(settings);

        double before = trained.TestBefore!.Value, after = trained.Test!.Value;
        TestContext.Out.WriteLine($"test accuracy: before {before:F3}, after MeZO {after:F3}, after the sign-flipped control {flipped:F3}");
        Assert.That(after, Is.GreaterThan(before + LearnedMargin), "MeZO's gain");
        Assert.That(flipped, Is.LessThan(before + ControlMargin), "the control's gain");
    }

    /// <summary>The run's loop with the loss negated: each g, and so each update, has the opposite sign.</summary>
    private static double TestAccuracyAfterAscent(TrainSettings settings)
    {
        using var session = TrainingSession.Open(settings);
        var loop = new StepLoop(session, settings);
        var descend = loop.Objective;
        loop.Objective = (batch, plus) =>
        {
            var losses = descend(batch, plus);
            return new LossPair(-losses.Plus, -losses.Minus);
        };
        loop.Run();
        return session.Evaluator.Evaluate(session.Test, settings.MicroBatchSize).Value;
    }
}
