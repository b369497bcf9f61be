using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Streaming;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Checkpoints;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models.Streaming;

/// <summary>
/// Streaming (<see cref="LayerStreaming"/>) with a CPU backend as the "device" and another as the host: MeZO steps and
/// an evaluation give the resident model's bits — losses, g, scores and stored weights — in every storage dtype and on
/// every tiny architecture, and the device never holds more than the budget, which is below what the resident model holds.
/// A step's updates of the layers wait on the host until each layer's next copy (or a save), and then give the same bits.
/// </summary>
public sealed class StreamedModelTests
{
    private static readonly TinyCheckpointOptions FourLayers = new() { Layers = 4 };

    [Test]
    public void StreamedStepsAreBitIdenticalToResidentOnesWithinTheBudget(
        [ValueSource(typeof(TinyCheckpoints), nameof(TinyCheckpoints.AllVariants))] TinyVariant variant,
        [Values(DType.F32, DType.BF16, DType.F16)] DType storage)
    {
        using var checkpoint = TinyCheckpoints.Create(variant, FourLayers);
        StreamedTraining resident, loose, streamed;
        using (var device = new CpuBackend()) resident = StreamedTraining.Run(checkpoint.Folder, device, storage, null);
        using (var device = new CpuBackend())
        using (var host = new CpuBackend())
            loose = StreamedTraining.Run(checkpoint.Folder, device, storage, new LayerStreaming(host, long.MaxValue));
        // Allocations are deterministic: the same run fits exactly under what it took with no limit.
        long budget = loose.DevicePeak;
        using (var device = new CpuBackend())
        using (var host = new CpuBackend())
            streamed = StreamedTraining.Run(checkpoint.Folder, device, storage, new LayerStreaming(host, budget));

        Assert.That(budget, Is.LessThan(resident.DevicePeak), "two slots hold less than four layers");
        Assert.That(streamed.DevicePeak, Is.LessThanOrEqualTo(budget));
        Assert.That(streamed.ResultBits, Is.EqualTo(resident.ResultBits), "losses, g and the evaluation's log-probabilities");
        Assert.That(streamed.Weights, Is.EqualTo(resident.Weights), "stored weights after the updates");
    }

    [Test]
    public void AStepsLayerUpdatesWaitForTheLayersNextCopyAndThenGiveTheResidentBits()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaUntied, FourLayers);
        using var residentDevice = new CpuBackend();
        using var device = new CpuBackend();
        using var host = new CpuBackend();
        using var resident = Transformer.Load(checkpoint.Folder, residentDevice, DType.BF16);
        using var model = Transformer.Load(checkpoint.Folder, device, DType.BF16, streaming: new LayerStreaming(host, long.MaxValue));
        var residentStep = new MezoStep(TrainableSet.Select(resident.Weights, null), eps: 1e-2, weightDecay: 0.1);
        var step = new MezoStep(TrainableSet.Select(model.Weights, null), eps: 1e-2, weightDecay: 0.1);
        var layer = model.Weights.Layers[2].Up;
        byte[] layerBefore = Bytes(layer), embeddingBefore = Bytes(model.Weights.TokenEmbedding);

        // Two samples of one step (n-SPSA): two updates per tensor, applied in sample order.
        foreach (var (seed, g) in new[] { (5ul, 0.5), (6ul, -0.25) })
        {
            residentStep.Update(seed, learningRate: 5e-2, g);
            step.Update(seed, learningRate: 5e-2, g);
        }

        int layerTensors = model.Weights.Layers.Sum(l => l.Tensors.Count());
        Assert.That(model.Weights.Pending!.Count, Is.EqualTo(2 * layerTensors), "every layer tensor's two updates wait");
        Assert.That(Bytes(layer), Is.EqualTo(layerBefore), "the layer's host copy still holds θ_t");
        Assert.That(Bytes(model.Weights.TokenEmbedding), Is.Not.EqualTo(embeddingBefore).And.EqualTo(Bytes(resident.Weights.TokenEmbedding)),
            "a tensor resident on the device updates at once");

        var batch = TokenBatch.Pack([[1, 5, 9, 2]], PaddingSide.Left);
        int[] rows = [batch.Row(0, 0), batch.Row(0, 1), batch.Row(0, 2)], targets = [5, 9, 2];
        var scores = new float[rows.Length];
        using (var ws = model.CreateWorkspace(batch.BatchSize, batch.Length)) model.ScoreTokens(ws, batch, rows, targets, scores);

        Assert.That(model.Weights.Pending.Count, Is.Zero, "the forward pass applied each layer's updates before copying it");
        Assert.That(model.Weights.Layers.SelectMany(l => l.Tensors).Select(Bytes), Is.EqualTo(resident.Weights.Layers.SelectMany(l => l.Tensors).Select(Bytes)));
    }

    [Test]
    public void SavingAStreamedModelAppliesItsPendingUpdatesFirst()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.OptPreLayerNorm, FourLayers);
        using var residentDevice = new CpuBackend();
        using var device = new CpuBackend();
        using var host = new CpuBackend();
        using var resident = Transformer.Load(checkpoint.Folder, residentDevice, DType.F16);
        using var model = Transformer.Load(checkpoint.Folder, device, DType.F16, streaming: new LayerStreaming(host, long.MaxValue));
        new MezoStep(TrainableSet.Select(resident.Weights, null), eps: 1e-2, weightDecay: 0.1).Update(9, learningRate: 5e-2, 0.75);
        new MezoStep(TrainableSet.Select(model.Weights, null), eps: 1e-2, weightDecay: 0.1).Update(9, learningRate: 5e-2, 0.75);
        using var folder = new ScratchFolder();
        string saved = Path.Combine(folder.Path, "streamed"), savedResident = Path.Combine(folder.Path, "resident");

        resident.Weights.Save(savedResident, []);
        model.Weights.Save(saved, []);

        Assert.That(model.Weights.Pending!.Count, Is.Zero);
        Assert.That(File.ReadAllBytes(Path.Combine(saved, "model.safetensors")),
            Is.EqualTo(File.ReadAllBytes(Path.Combine(savedResident, "model.safetensors"))));
    }

    private static byte[] Bytes(Tensor t)
    {
        var bytes = new byte[t.ByteCount];
        t.Backend.Download(t, 0, bytes);
        return bytes;
    }

    [Test]
    public void TheHostHoldsTheLayersAndTheDeviceTheRest()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaUntied, FourLayers);
        using var device = new CpuBackend();
        using var host = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, device, streaming: new LayerStreaming(host, long.MaxValue));

        Assert.That(model.StreamsLayers, Is.True);
        Assert.That(model.Weights.Layers.SelectMany(l => l.Tensors).Select(t => t.Backend), Has.All.SameAs(host));
        Assert.That(new[] { model.Weights.TokenEmbedding, model.Weights.LmHead, model.Weights.FinalNorm! }.Select(t => t.Backend), Has.All.SameAs(device));
        long layerBytes = model.Weights.Layers.SelectMany(l => l.Tensors).Sum(t => t.ByteCount);
        Assert.That(host.Memory.Current(MemoryCategory.Weights), Is.GreaterThanOrEqualTo(layerBytes));
        Assert.That(device.Memory.Current(MemoryCategory.Weights), Is.LessThan(model.Weights.Bytes),
            "the device holds the resident part and two slots, not the whole model");
    }

    [Test]
    public void ABudgetBelowTheResidentPartAndTwoSlotsIsOneLineGivingTheNeed()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.OptPreLayerNorm, FourLayers);
        using var device = new CpuBackend();
        using var host = new CpuBackend();

        var e = Assert.Throws<InvalidInputException>(() => Transformer.Load(checkpoint.Folder, device, streaming: new LayerStreaming(host, 4096)));

        Assert.That(e!.Message, Does.Match(@"^--max-device-memory 0\.00 MiB is too small for .+: its resident weights \([0-9.]+ MiB\), two layer slots \([0-9.]+ MiB\) and workspaces \(0\.00 MiB\) need [0-9.]+ MiB$"));
        Assert.That((device.Memory.CurrentTotal, host.Memory.CurrentTotal), Is.EqualTo((0L, 0L)), "nothing is left allocated");
    }

    [TestCase("1073741824", 1L << 30)]
    [TestCase("512MiB", 512L << 20)]
    [TestCase("2GiB", 2L << 30)]
    [TestCase("2 gib", 2L << 30)]
    [TestCase("1.5GB", 1_500_000_000L)]
    [TestCase("64KiB", 64L << 10)]
    [TestCase("80G", 80L << 30)]
    public void SizesAreReadAsPeopleWriteThem(string text, long bytes) => Assert.That(ByteSize.Parse(text, "--max-device-memory"), Is.EqualTo(bytes));

    [TestCase("")]
    [TestCase("lots")]
    [TestCase("-1GiB")]
    [TestCase("0")]
    [TestCase("12 parsecs")]
    [TestCase("1e30")]
    public void AnythingElseIsAnErrorNamingTheOption(string text)
    {
        var e = Assert.Throws<InvalidInputException>(() => ByteSize.Parse(text, "--max-device-memory"));
        Assert.That(e!.Message, Does.StartWith($"--max-device-memory '{text}' is not a size in bytes"));
    }
}
