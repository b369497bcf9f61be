using MeZO.Engine;
using MeZO.Engine.Distributed;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// `--max-device-memory` (issue 14, ZO2's streaming): with the CPU backend as the "device" and a budget below the
/// model's weights, the decoder layers stay on a host backend and are copied in as each runs. A streamed run must end
/// bit for bit where the resident one ends, in every storage dtype and with adapters, and the device must never hold
/// more than the budget. The layers' updates wait for their next copy, and a checkpoint, best/, a resume and an
/// overflow's error see them all the same.
/// </summary>
public class StreamingRunTests
{
    private TemporaryFolder _folder = null!;
    private string _model = null!;

    [OneTimeSetUp]
    public void WriteModel()
    {
        _folder = new TemporaryFolder();
        // Eight layers of 0.75 MiB (float32) against small workspaces: the two slots and the workspaces fit in well under
        // the weights, as a large model's do.
        _model = Path.Combine(_folder.Path, "eight-layers");
        SyntheticCheckpoint.Write(_model, TinyModel.OptConfig(vocabulary: 61, hidden: 128, layers: 8, ffn: 512, heads: 4, positions: 64), DType.F32, seed: 7);
        File.Copy(Path.Combine(BundledRun.Model, "tokenizer.json"), Path.Combine(_model, "tokenizer.json"));
    }

    [OneTimeTearDown]
    public void DeleteModel() => _folder.Dispose();

    private TrainSettings Settings(DType storage, PeftKind? peft) => new()
    {
        Model = _model, Task = "sst2", Data = BundledRun.Data, TrainExamples = 16, EvalExamples = 8, TestExamples = 8,
        Steps = 3, BatchSize = 4, MicroBatchSize = 4, Samples = 2, LearningRate = peft is null ? 1e-2 : 5e-2, Eps = 1e-2,
        WeightDecay = 0.1, EvalEvery = 2, CheckpointEvery = 2, LogEvery = 1, Storage = storage, Peft = peft,
    };

    [TestCase(DType.F32, null)]
    [TestCase(DType.BF16, null)]
    [TestCase(DType.F16, null)]
    [TestCase(DType.F32, PeftKind.Lora)]
    [TestCase(DType.BF16, PeftKind.Prefix)]
    public void AStreamedRunIsBitIdenticalToTheResidentOneWithinItsBudget(DType storage, PeftKind? peft)
    {
        var settings = Settings(storage, peft);
        string resident = Path.Combine(_folder.Path, $"resident-{storage}-{peft}");
        string loose = Path.Combine(_folder.Path, $"loose-{storage}-{peft}");
        string streamed = Path.Combine(_folder.Path, $"streamed-{storage}-{peft}");
        var residentResult = new TrainingRun(settings, resident, resume: false, TextWriter.Null).Run();
        // The budget is what the streamed run takes under no limit: allocations are deterministic, so the same run under
        // it must fit exactly, and it is well below the resident model's weights alone.
        long budget = new TrainingRun(settings with { MaxDeviceMemory = long.MaxValue }, loose, resume: false, TextWriter.Null).Run().PeakBytes;
        long weightBytes;
        using (var backend = new Engine.Backends.Cpu.CpuBackend())
        using (var model = Transformer.Load(_model, backend, storage))
            weightBytes = model.Weights.Bytes;
        Assert.That(budget, Is.LessThan(weightBytes), "the budget is below the model's weights");

        var streamedResult = new TrainingRun(settings with { MaxDeviceMemory = budget }, streamed, resume: false, TextWriter.Null).Run();

        Assert.That(streamedResult.PeakBytes, Is.LessThanOrEqualTo(budget), "the device's peak, as its MemoryReport counts it");
        Assert.That(File.ReadAllText(Path.Combine(streamed, "trajectory.jsonl")), Is.EqualTo(File.ReadAllText(Path.Combine(resident, "trajectory.jsonl"))),
            "seeds, losses and projected gradients");
        foreach (string file in Directory.GetFiles(Path.Combine(resident, "model"), "*.safetensors"))
            Assert.That(File.ReadAllBytes(Path.Combine(streamed, "model", Path.GetFileName(file))), Is.EqualTo(File.ReadAllBytes(file)), file);
        Assert.That((streamedResult.ValidationBefore, streamedResult.ValidationBest, streamedResult.TestBefore, streamedResult.Test),
            Is.EqualTo((residentResult.ValidationBefore, residentResult.ValidationBest, residentResult.TestBefore, residentResult.Test)),
            "evaluation streamed gives the resident evaluation's metrics");
    }

    [TestCase(DType.BF16)]
    [TestCase(DType.F32)]
    public void AStreamedRunMatchesTheResidentOneAtEveryCheckpointValidationAndResume(DType storage)
    {
        // The layers' updates wait for their next copy: every checkpoint, best/ and the resume's restore must see them
        // applied. Two samples a step (two updates per tensor, in order) with weight decay, a validation every step.
        var settings = Settings(storage, null) with { Steps = 5, Samples = 2, WeightDecay = 0.1, EvalEvery = 1, CheckpointEvery = 2 };
        string[] runs = ["resident", "streamed"];
        var results = new List<TrainResult>();
        foreach (string name in runs)
        {
            string run = Path.Combine(_folder.Path, $"{name}-checkpoints-{storage}");
            var runSettings = name == "streamed" ? settings with { MaxDeviceMemory = long.MaxValue } : settings;
            results.Add(new TrainingRun(runSettings, run, resume: false, TextWriter.Null, new CheckpointSnapshots(run, run + "-snapshots")).Run());
            results.Add(new TrainingRun(runSettings with { Steps = 7 }, run, resume: true, TextWriter.Null).Run());
        }

        Assert.That((results[2].ValidationBest, results[2].BestStep, results[3].ValidationBest, results[3].Test),
            Is.EqualTo((results[0].ValidationBest, results[0].BestStep, results[1].ValidationBest, results[1].Test)));
        string Resident(string part) => Path.Combine(_folder.Path, $"resident-checkpoints-{storage}{part}");
        string Streamed(string part) => Path.Combine(_folder.Path, $"streamed-checkpoints-{storage}{part}");
        var files = Directory.GetFiles(Resident("-snapshots"), "*.safetensors", SearchOption.AllDirectories)
            .Concat(Directory.GetFiles(Resident(""), "*.safetensors", SearchOption.AllDirectories)).ToArray();
        Assert.That(files.Select(f => Path.GetRelativePath(_folder.Path, f)), Has.Some.Contains("at-3").And.Some.Contains("best"),
            "the checkpoint of step 2 as step 3 found it, and best/");
        foreach (string file in files)
            Assert.That(File.ReadAllBytes(file.Replace(Resident(""), Streamed(""))), Is.EqualTo(File.ReadAllBytes(file)), file);
        Assert.That(File.ReadAllText(Streamed("/trajectory.jsonl")), Is.EqualTo(File.ReadAllText(Resident("/trajectory.jsonl"))));
    }

    [Test]
    public void AnOverflowingLayerUpdateStopsTheStreamedRunNamingItsStepAndKeepsTheLastCheckpoint()
    {
        // Only layer tensors train, so every update waits for its layer's next copy. Steps 0 and 1 have g = 0 (the
        // weights stay as loaded); step 2's g = 1e39 carries bf16 weights past 3.39e38 when its updates land, in step
        // 3's first forward pass, after the checkpoint of step 2.
        var settings = Settings(DType.BF16, null) with
        {
            Steps = 4, Samples = 1, LearningRate = 1, WeightDecay = 0, EvalEvery = 0, CheckpointEvery = 2, Trainable = @"layers\.",
            MaxDeviceMemory = long.MaxValue,
        };
        var run = new RunFolder(Path.Combine(_folder.Path, "overflow"));
        Directory.CreateDirectory(run.Directory);
        using var session = TrainingSession.Open(settings);
        using var loop = new StepLoop(session, settings);
        var objective = loop.Objective;
        int calls = 0;
        loop.Objective = (batch, plus) =>
        {
            var losses = objective(batch, plus); // the forward passes, which apply the waiting updates
            return calls++ < 2 ? new LossPair(losses.Plus, losses.Plus) : new LossPair(1e37, -1e37);
        };
        using (var recorder = new RunRecorder(run, settings, session, loop, null, TextWriter.Null, null, SingleProcess.Instance))
            Assert.That(() => loop.Run(0, settings.Steps, recorder), Throws.InstanceOf<WeightOverflowException>()
                .With.Property(nameof(WeightOverflowException.Step)).EqualTo(2)
                .And.Message.Match(@"^at step 2 the MeZO update of 'model\.decoder\.layers\.\d+\.[a-z0-9_.]+' overflows"));
        Assert.That(calls, Is.EqualTo(3), "it surfaced in step 3's first forward pass, before step 3 was recorded");
        Assert.That(TrajectoryLog.Read(run.Trajectory).Records.Select(r => r.Step), Is.EqualTo(new long[] { 0, 1, 2 }));
        Assert.That(RunState.Read(run.Checkpoint).CompletedSteps, Is.EqualTo(2));
        using var backend = new Engine.Backends.Cpu.CpuBackend();
        using (var loaded = Transformer.Load(_model, backend, DType.BF16))
        using (var saved = Transformer.Load(run.Checkpoint, backend))
            Assert.That(saved.Weights.Parameters.Select(p => Bytes(p.Tensor)), Is.EqualTo(loaded.Weights.Parameters.Select(p => Bytes(p.Tensor))),
                "the checkpoint holds the weights of step 2: the loaded ones");
    }

    private static byte[] Bytes(Engine.Tensors.Tensor t)
    {
        var bytes = new byte[t.ByteCount];
        t.Backend.Download(t, 0, bytes);
        return bytes;
    }

    /// <summary>Copies a run's checkpoint as each step finds it, before the next one replaces it.</summary>
    private sealed class CheckpointSnapshots(string run, string into) : IProgressSink
    {
        public void Report(long step, long totalSteps, double loss, double examplesPerSecond)
        {
            string checkpoint = Path.Combine(run, "checkpoint");
            if (!Directory.Exists(checkpoint)) return;
            string copy = Path.Combine(into, $"at-{step}");
            Directory.CreateDirectory(copy);
            foreach (string file in Directory.GetFiles(checkpoint, "*.safetensors")) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        public void Done()
        {
        }
    }

    [Test]
    public void ABudgetTooSmallForTwoLayerSlotsIsAClearError()
    {
        var e = Assert.Throws<InvalidInputException>(() =>
            TrainingSession.Open(Settings(DType.F32, null) with { MaxDeviceMemory = 64 << 10 }).Dispose());
        Assert.That(e!.Message, Does.StartWith("--max-device-memory ").And.Contain(" is too small for "));
        Assert.That(e.Message, Does.Contain("two layer slots").And.Contain("need "));
        Assert.That(e.Message, Does.Not.Contain('\n'));
    }

    [Test]
    public void ABudgetThatHoldsTheWeightsButNotTheWorkspacesIsAClearError()
    {
        long budget;
        using (var backend = new Engine.Backends.Cpu.CpuBackend())
        using (var host = new Engine.Backends.Cpu.CpuBackend())
        using (Transformer.Load(_model, backend, streaming: new Engine.Models.Streaming.LayerStreaming(host, long.MaxValue)))
            budget = backend.Memory.CurrentTotal;

        var e = Assert.Throws<InvalidInputException>(() =>
            TrainingSession.Open(Settings(DType.F32, null) with { MaxDeviceMemory = budget }).Dispose());
        Assert.That(e!.Message, Does.Match(@"workspaces \([0-9.]+ MiB\) need"));
    }

    [Test]
    public void MaxDeviceMemoryIsNoRecordedSetting()
    {
        var settings = Settings(DType.F32, null);
        Assert.That(settings.DifferencesFrom(settings with { MaxDeviceMemory = 1 << 30 }), Is.Empty, "a resume may change it");
        Assert.That(System.Text.Json.JsonSerializer.Serialize(settings with { MaxDeviceMemory = 1 << 30 }, TrainSettings.Json),
            Does.Not.Contain("memory"));
    }
}
