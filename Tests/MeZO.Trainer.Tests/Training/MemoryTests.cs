using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// MeZO trains in the memory of inference: a step allocates nothing that grows with the parameters (no gradient, no
/// optimizer state, no copy of the weights), the backend's memory does not grow from step to step, and a training run
/// peaks within 10% of an evaluation at the same batch and length.
/// </summary>
public class MemoryTests
{
    // The bundled task and tokenizer on OPT models that differ only in their vocabulary: 61 ids (the tokenizer's) or
    // 32,768 (the extra rows are never used as inputs but are perturbed, updated and scored against like the others).
    // The large one's embedding is 2,097,152 parameters, 8 MiB in float32, about 97% of the model.
    private const int LargeVocabulary = 32_768;
    private const int MicroBatch = 8;

    private TemporaryFolder _folder = null!;
    private string _small = null!, _large = null!;

    [OneTimeSetUp]
    public void WriteModels()
    {
        _folder = new TemporaryFolder();
        _small = WriteModel("small", vocabulary: 61);
        _large = WriteModel("large", LargeVocabulary);
    }

    [OneTimeTearDown]
    public void DeleteModels() => _folder.Dispose();

    private string WriteModel(string name, int vocabulary)
    {
        string directory = Path.Combine(_folder.Path, name);
        SyntheticCheckpoint.Write(directory, TinyModel.OptConfig(vocabulary, hidden: 64, layers: 2, ffn: 128, heads: 4, positions: 64), DType.F32, seed: 5);
        File.Copy(Path.Combine(BundledRun.Model, "tokenizer.json"), Path.Combine(directory, "tokenizer.json"));
        return directory;
    }

    [Test]
    public void AStepAllocatesNothingThatGrowsWithTheParameters()
    {
        var (smallBytes, smallParameters) = ManagedBytesPerStep(_small);
        var (largeBytes, largeParameters) = ManagedBytesPerStep(_large);
        long parameterBytes = 4 * (largeParameters - smallParameters);
        TestContext.Out.WriteLine($"managed bytes per step: {smallBytes} ({smallParameters} parameters), {largeBytes} ({largeParameters} parameters)");

        // What a step allocates (batches, closures, lists of records, the parallel loops' bookkeeping) does not depend on
        // the parameter count; a gradient or a copy of the large model's embedding would add 8 MiB. Allow 1/32 of the
        // parameters' bytes for the parallel loops over the larger tensors' chunks (measured: 56 KB).
        Assert.That(largeBytes - smallBytes, Is.LessThan(parameterBytes / 32));
    }

    [Test]
    public void BackendMemoryDoesNotGrowFromStepToStep()
    {
        using var session = Open(_large, trainExamples: 32, testExamples: 0);
        var step = Stepper(session);
        step(0);
        long current = session.Backend.Memory.CurrentTotal, peak = session.Backend.Memory.PeakTotal;

        for (long t = 1; t < 4; t++) step(t);

        Assert.That((session.Backend.Memory.CurrentTotal, session.Backend.Memory.PeakTotal), Is.EqualTo((current, peak)));
    }

    [Test]
    public void TrainingPeaksWithinTenPercentOfEvaluationAtTheSameBatch()
    {
        long evaluation;
        using (var session = Open(_large, trainExamples: 0, testExamples: 64))
        {
            session.Evaluator.Evaluate(session.Test, MicroBatch);
            evaluation = session.Backend.Memory.PeakTotal;
        }
        var settings = new TrainSettings
        {
            Model = _large, Task = "sst2", Data = BundledRun.Data, TrainExamples = 32, EvalExamples = 16, TestExamples = 64,
            Steps = 3, BatchSize = 2 * MicroBatch, MicroBatchSize = MicroBatch, LearningRate = 1e-4, EvalEvery = 2, CheckpointEvery = 2,
        };
        long training = new TrainingRun(settings, Path.Combine(_folder.Path, "run"), resume: false, TextWriter.Null).Run().PeakBytes;
        TestContext.Out.WriteLine($"peak: evaluation {evaluation} bytes, training {training} bytes");

        // The weights are 8 MiB of both; a gradient or an optimizer state would add at least as much again.
        Assert.That(training, Is.LessThanOrEqualTo(evaluation * 1.10));
    }

    private static TrainingSession Open(string model, int trainExamples, int testExamples) =>
        TrainingSession.Open(new SessionOptions
        {
            Model = model, Task = "sst2", Data = BundledRun.Data, TrainExamples = trainExamples, TestExamples = testExamples, Seed = 1,
            MicroBatchSize = MicroBatch,
        });

    /// <summary>One step of the loop `mezo train` runs: the batch's losses under ±εz in one lockstep sweep, the update.</summary>
    private static Action<long> Stepper(TrainingSession session)
    {
        var settings = new TrainSettings
        {
            Model = "", Task = "sst2", Data = "", Seed = 9, BatchSize = 2 * MicroBatch, MicroBatchSize = MicroBatch,
            Eps = 1e-3, WeightDecay = 0.1, Samples = 2, LearningRate = 1e-4,
        };
        var loop = new StepLoop(session, settings);
        return t => loop.Run(t, t + 1);
    }

    /// <summary>
    /// Managed bytes allocated by all threads per step, after warm-up steps (JIT tiers, the thread pool's threads and
    /// their per-thread scratch buffers). The least of three windows: a thread the pool injects when another process
    /// holds a core allocates its scratch once, in one window; what a step allocates shows in every window.
    /// </summary>
    private static (long Bytes, long Parameters) ManagedBytesPerStep(string model)
    {
        using var session = Open(model, trainExamples: 32, testExamples: 0);
        var step = Stepper(session);
        const int warmUp = 6, measured = 4, windows = 3;
        long t = 0;
        for (; t < warmUp; t++) step(t);
        long least = long.MaxValue;
        for (int window = 0; window < windows; window++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < measured; i++, t++) step(t);
            least = Math.Min(least, (GC.GetTotalAllocatedBytes(precise: true) - before) / measured);
        }
        return (least, session.Model.Weights.ParameterCount);
    }
}
