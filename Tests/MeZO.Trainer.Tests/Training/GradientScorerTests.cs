using System.Text.Json;
using MeZO.Engine.Tensors;
using MeZO.Tests.Common;
using MeZO.Trainer.Tasks;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// <see cref="GradientScorer"/>'s gradient of each task loss against central differences of the loss the forward-only
/// <see cref="BatchObjective"/> computes (an independent path: scores, then cross-entropy or teacher forcing), along a
/// random direction over every weight of a real model (stories260K: SiLU, so the loss is smooth). Micro-batches smaller
/// than the batch must not change the gradient of the batch's loss.
/// </summary>
public class GradientScorerTests
{
    [TestCase(4, TestName = "SST-2 cross-entropy, the batch in one call")]
    [TestCase(3, TestName = "SST-2 cross-entropy, in calls of whole examples")]
    public void ClassificationGradientMatchesTheForwardLossesDifferences(int microBatch)
    {
        using var session = TrainingSession.Open(new SessionOptions
        {
            Model = SharedData.Path("models/stories260K"), Task = "sst2", Data = SharedData.Path("tasks/SST-2"),
            TrainExamples = 5, EvalExamples = 0, TestExamples = 0, Seed = 3, MicroBatchSize = microBatch, MaxLength = 96,
        });
        AssertDirectionalDerivative(session, session.Train.ToArray(), TaskKind.Classification);
    }

    [Test]
    public void TeacherForcedGradientMatchesTheForwardLossesDifferences()
    {
        using var folder = new TemporaryFolder();
        string squad = JsonSerializer.Serialize(new
        {
            version = "1.1",
            data = new[]
            {
                new
                {
                    title = "Stories",
                    paragraphs = new[]
                    {
                        new { context = "Lily and Tom went to the park. They played with a red ball.", qas = new[] { new { id = "a", question = "Where did they go?", answers = new[] { new { answer_start = 0, text = "the park" } } } } },
                        new { context = "Sam had a box of toys. He gave a car to Ben.", qas = new[] { new { id = "b", question = "What did Sam give?", answers = new[] { new { answer_start = 0, text = "a toy car" } } } } },
                        new { context = "Max the dog liked to run in the big green field.", qas = new[] { new { id = "c", question = "Who ran?", answers = new[] { new { answer_start = 0, text = "Max" } } } } },
                    },
                },
            },
        });
        folder.Write("train-v1.1.json", squad);
        folder.Write("dev-v1.1.json", squad);
        using var session = TrainingSession.Open(new SessionOptions
        {
            Model = SharedData.Path("models/stories260K"), Task = "squad", Data = folder.Path, TrainExamples = 3, EvalExamples = 0,
            TestExamples = 0, Seed = 1, MicroBatchSize = 2, MaxLength = 128,
        });
        AssertDirectionalDerivative(session, session.Train.ToArray(), TaskKind.Generation);
    }

    [Test]
    public void TextGradientMatchesTheForwardLossesDifferences()
    {
        // The jsonl task's text records: teacher forcing over every token after the first, in calls of two texts.
        using var folder = new TemporaryFolder();
        folder.Write("train.jsonl", """
            {"text": "Lily and Tom went to the park. They played with a red ball."}
            {"text": "Sam had a box of toys."}
            {"text": "Max the dog liked to run in the big green field."}
            """);
        using var session = TrainingSession.Open(new SessionOptions
        {
            Model = SharedData.Path("models/stories260K"), Task = "jsonl", Data = folder.Path, TrainExamples = 3, EvalExamples = 0,
            TestExamples = 0, Seed = 1, MicroBatchSize = 2, MaxLength = 128,
        });
        AssertDirectionalDerivative(session, session.Train.ToArray(), TaskKind.LanguageModeling);
    }

    /// <summary>
    /// ∇L·d from the scorer against central differences D(h) = (L(θ + hd) − L(θ − hd))/2h of the float32 forward. A step
    /// of h per weight over all 260K weights is a long way (‖hd‖ ≈ 0.3 at h = 1e-3): D(h) = D₀ + c·h² with c large enough
    /// to move D(1e-3) by 0.7 % on the teacher-forced loss (measured), so the check extrapolates D₀ ≈ (4·D(h/2) − D(h))/3
    /// (Richardson), leaving O(h⁴) and the float32 loss's rounding over 2h (≈ 1e-4 at these h). The tolerance, 2e-3 of
    /// the derivative, holds both with room (measured: 8e-5 and 7e-5), while a wrong pair weight (a sign, a missing 1/n
    /// or 1/tokens) is off by tens of percent.
    /// </summary>
    private static void AssertDirectionalDerivative(TrainingSession session, EncodedExample[] batch, TaskKind kind)
    {
        var parameters = session.Model.Weights.Parameters;
        using var scorer = new GradientScorer(session.Model, session.Scorer.MaxSequences, session.Scorer.MaxLength,
            parameters.Select(p => p.Tensor).ToArray(), recomputeLayers: false);
        double loss = scorer.AccumulateLoss(batch, kind);
        var objective = new BatchObjective(kind, Objective.Loss, session.Scorer, session.Evaluator);
        Assert.That(loss, Is.EqualTo(objective.Of(batch)).Within(1e-5 * Math.Abs(loss)), "the loss is the forward pass's");

        var rng = new Random(17);
        var theta = parameters.ToDictionary(p => p.Name, p => HostValues.Read(p.Tensor));
        var d = parameters.ToDictionary(p => p.Name, p => Enumerable.Range(0, theta[p.Name].Length).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray());
        double dot = 0;
        foreach (var p in parameters)
        {
            float[] g = HostValues.Read(scorer.Gradient.GradientOf(p.Tensor)!);
            for (int i = 0; i < g.Length; i++) dot += (double)g[i] * d[p.Name][i];
        }
        const float h = 1e-3f;
        double LossAt(float step)
        {
            foreach (var p in parameters)
                HostValues.Write(p.Tensor, theta[p.Name].Select((v, i) => v + step * d[p.Name][i]).ToArray());
            return objective.Of(batch);
        }
        double Difference(float step) => (LossAt(step) - LossAt(-step)) / (2.0 * step);
        double coarse = Difference(h), fine = Difference(h / 2), difference = (4 * fine - coarse) / 3;
        LossAt(0);
        TestContext.Out.WriteLine($"∇L·d = {dot:R}; central differences {coarse:R} (h = {h}), {fine:R} (h/2), extrapolated {difference:R}");
        Assert.That(Math.Abs(dot), Is.GreaterThan(1e-2), "the direction is not orthogonal to the gradient");
        Assert.That(dot, Is.EqualTo(difference).Within(2e-3 * Math.Abs(difference)));
    }
}
