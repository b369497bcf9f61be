using MeZO.Engine;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
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
/// more than the budget.
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
