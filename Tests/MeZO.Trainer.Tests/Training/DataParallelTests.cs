using MeZO.Engine;
using MeZO.Engine.Tensors;
using MeZO.Tests.Common;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// A run on 2 and 3 ranks (threads of this process with in-process collectives; MpiRunTests in MeZO.Cli.Tests launches
/// real Open MPI jobs) against the same run in one process: the trajectory, the final weights, best/ and every
/// reported metric are the same bit for bit, whatever the ranks share out (the batch's forward calls or the samples),
/// the objective (a loss, accuracy, F1 from generated answers, a text's likelihood) and the storage dtype. Shares are
/// uneven (three ranks, four calls) and some ranks get none (three ranks, two calls).
/// </summary>
[Category(TestSpeed.Slow)]
public class DataParallelTests
{
    public static IEnumerable<TestCaseData> BundledCases()
    {
        yield return new TestCaseData(DistributeKind.Batch, null, Objective.Loss).SetName("bundled OPT, F32, the batch shared, loss");
        yield return new TestCaseData(DistributeKind.Batch, DType.BF16, Objective.Loss).SetName("bundled OPT, BF16, the batch shared, loss");
        yield return new TestCaseData(DistributeKind.Samples, DType.F16, Objective.Loss).SetName("bundled OPT, F16, the samples shared, loss");
        yield return new TestCaseData(DistributeKind.Batch, null, Objective.Accuracy).SetName("bundled OPT, F32, the batch shared, accuracy");
    }

    [TestCaseSource(nameof(BundledCases))]
    public void RanksTrainTheBundledDefaultAsOneProcessDoes(DistributeKind distribute, DType? dtype, Objective objective)
    {
        var settings = BundledRun.Small(steps: 6) with
        {
            Samples = 3, Storage = dtype, Objective = objective, Distribute = distribute, LearningRate = 5e-3, EvalEvery = 2, CheckpointEvery = 4,
            MicroBatchSize = 1,
        };
        AssertRanksMatchOneProcess(settings);
    }

    [TestCase("classification", Objective.Loss, TestName = "stories260K (Llama), BF16, jsonl classification, loss")]
    [TestCase("completion", Objective.F1, TestName = "stories260K (Llama), BF16, jsonl completions, F1 of generated answers")]
    [TestCase("text", Objective.Loss, TestName = "stories260K (Llama), BF16, jsonl text, teacher-forced loss and log-likelihood")]
    public void RanksTrainStories260KAsOneProcessDoes(string kind, Objective objective)
    {
        using var data = new TemporaryFolder();
        string records = StoryRecords.Jsonl(kind, count: 9);
        data.Write("train.jsonl", records);
        data.Write("test.jsonl", records);
        var settings = new TrainSettings
        {
            Model = SharedData.Path("models/stories260K"), Task = "jsonl", Data = data.Path, TrainExamples = 6, EvalExamples = 3,
            TestExamples = 5, Seed = 9, Steps = 4, BatchSize = 4, MicroBatchSize = 2, EvalEvery = 2, CheckpointEvery = 0, LogEvery = 1,
            LearningRate = objective == Objective.F1 ? 1e-2 : 1e-3, Eps = 1e-2, Samples = 2, Storage = DType.BF16, Objective = objective,
        };
        AssertRanksMatchOneProcess(settings);
    }

    [Test]
    public void BackpropIsRefusedOnMoreThanOneRank()
    {
        using var folder = new TemporaryFolder();
        var settings = BundledRun.Small(steps: 2) with { Optimizer = OptimizerKind.AdamW, Samples = 1, LearningRate = 1e-3 };
        var failure = Assert.Throws<AggregateException>(() => InProcessJob.Run(2, ranks =>
            new TrainingRun(settings, Path.Combine(folder.Path, "run"), resume: false, TextWriter.Null, null, ranks).Run()));
        Assert.That(failure!.InnerException, Is.InstanceOf<InvalidInputException>().With.Message.Contains("--optimizer adamw runs in one process"));
    }

    private static void AssertRanksMatchOneProcess(TrainSettings settings)
    {
        using var folder = new TemporaryFolder();
        string single = Path.Combine(folder.Path, "one");
        var expected = new TrainingRun(settings, single, resume: false, TextWriter.Null).Run();
        Assert.That(File.ReadAllLines(Path.Combine(single, TrajectoryLog.FileName)), Has.Length.EqualTo(settings.Steps * settings.Samples));
        foreach (int size in new[] { 2, 3 })
        {
            string run = Path.Combine(folder.Path, $"ranks{size}");
            var results = InProcessJob.Run(size, ranks => new TrainingRun(settings, run, resume: false, TextWriter.Null, null, ranks).Run());
            foreach (var (result, rank) in results.Select((r, i) => (r, i)))
                Assert.That(Reported(result), Is.EqualTo(Reported(expected)), $"{size} ranks: what rank {rank} reports");
            Assert.That(File.ReadAllBytes(Path.Combine(run, TrajectoryLog.FileName)), Is.EqualTo(File.ReadAllBytes(Path.Combine(single, TrajectoryLog.FileName))),
                $"{size} ranks: the trajectory (every L+, L−, g)");
            foreach (string weights in new[] { "model", "best" })
                Assert.That(FolderBytes(Path.Combine(run, weights)), Is.EqualTo(FolderBytes(Path.Combine(single, weights))), $"{size} ranks: {weights}/");
            Assert.That(RunManifest.Read(run).WorldSize, Is.EqualTo(size));
        }
        Assert.That(RunManifest.Read(single).WorldSize, Is.EqualTo(1));
    }

    /// <summary>Every metric a run reports, each to its last bit.</summary>
    private static string Reported(TrainResult r) =>
        string.Join(", ", new[] { r.ValidationBefore, r.ValidationBest, r.TestBefore, r.Test }.Select(e => e is null ? "-" : $"{e.Metric} {e.Value:R} {e.ExactMatch:R}"))
        + $", best step {r.BestStep}";

    /// <summary>The weight files of a saved model or adapter folder (absent: none), by name.</summary>
    private static Dictionary<string, byte[]> FolderBytes(string folder) =>
        Directory.Exists(folder)
            ? Directory.GetFiles(folder, "*.safetensors").ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes)
            : [];
}
