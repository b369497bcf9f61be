using MeZO.Engine.Adapters;
using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Backends.Cuda.Emulation;
using MeZO.Engine.Tests.Models;
using MeZO.Engine.Tests.Reference;
using MeZO.Tests.Common;
using MeZO.Verification;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Adapters;

/// <summary>
/// A model with a LoRA adapter on CudaBackend, run on the host emulation of its kernels, against the same model and
/// adapter on the CPU backend: logits, MeZO's lockstep pair over the adapter, and an update of the adapter. The CUDA
/// side's bypass runs its own Linear paths and the mezo_add_scaled kernel.
/// </summary>
[Category("HostKernels")]
[Category(TestSpeed.Slow)]
[TestFixture]
public sealed class LoraEmulatedCudaTests
{
    private const int Rank = 8;
    private const double Alpha = 16;
    private const ulong Seed = 0xC0DA_0000_1111ul;

    /// <summary>
    /// ModelParity's float32 logit tolerance: per-op differences in summation order compound through the residual
    /// stream, about L·2⁻²² relative to the largest logit; 1e-4 leaves room for that.
    /// </summary>
    private const double RelativeTolerance = 1e-4;

    private CpuBackend _cpu = null!;
    private CudaBackend _emulated = null!;

    [OneTimeSetUp]
    public void Open()
    {
        _cpu = new CpuBackend();
        var options = new CudaBackendOptions { Precision = MatmulPrecision.Float32, Noise = NoiseArithmetic.Exact, UseCublasLt = false };
        _emulated = new CudaBackend(new EmulatedRuntime(80), options, new MemoryReport());
    }

    [OneTimeTearDown]
    public void Close()
    {
        _emulated?.Dispose();
        _cpu?.Dispose();
    }

    [TestCase(TinyVariant.LlamaTied, DType.F32)]
    [TestCase(TinyVariant.Gpt2, DType.BF16)]
    [TestCase(TinyVariant.OptPreLayerNorm, DType.F32)]
    public void LogitsScoresAndAnUpdateMatchTheCpuBackend(TinyVariant variant, DType adapterType)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        string[] targets = LoraReference.AllProjections(checkpoint.ModelType);
        var paths = LoraReference.ModulePaths(checkpoint.ModelType, checkpoint.Options.Layers, targets);
        var lora = LoraReference.RandomTensors(checkpoint, paths, Rank, seed: 12, adapterType);
        var (batch, rows, ids) = LoraReference.Batch(checkpoint.VocabSize, PaddingSide.Left);

        (float[] Logits, float[] Plus, float[] Minus, float[] Updated) Run(IBackend backend)
        {
            using var model = Transformer.Load(checkpoint.Folder, backend);
            using var adapter = LoraAdapter.Create(model, new LoraConfig(Rank, Alpha, targets), adapterType);
            LoraReference.Upload(adapter, lora);
            model.Lora = adapter;
            var logits = ParityRuns.EngineLogits(model, batch, rows);
            var trainable = TrainableSet.Of(adapter.Parameters);
            var plus = new float[rows.Length];
            var minus = new float[rows.Length];
            using (var plusWs = model.CreateWorkspace(batch.BatchSize, batch.Length))
            using (var minusWs = model.CreateLockstepWorkspace(batch.BatchSize, batch.Length))
                model.ScoreTokensLockstep(plusWs, minusWs, batch, rows, ids, new WeightPerturbation(trainable, Seed, 1e-2f), plus, minus);
            new MezoStep(trainable, 1e-2, weightDecay: 0).Update(Seed, learningRate: 1e-2, projectedGradient: 3.0);
            var updated = adapter.Parameters.SelectMany(p => HostValues.Read(p.Tensor)).ToArray();
            return (logits, plus, minus, updated);
        }

        var cpu = Run(_cpu);
        var gpu = Run(_emulated);
        double logitTolerance = RelativeTolerance * (1 + cpu.Logits.Max(v => Math.Abs(v)));
        for (int i = 0; i < cpu.Logits.Length; i++)
            if (Math.Abs(gpu.Logits[i] - cpu.Logits[i]) > logitTolerance)
                Assert.Fail($"{variant}: logit {i % checkpoint.VocabSize} of row {rows[i / checkpoint.VocabSize]} is {gpu.Logits[i]} on the emulated GPU, {cpu.Logits[i]} on the CPU");
        // A log-probability moves by at most twice the logits' error (the target's logit and the log-sum-exp).
        Assert.That(gpu.Plus, Is.EqualTo(cpu.Plus).Within(2 * logitTolerance), "+ε scores");
        Assert.That(gpu.Minus, Is.EqualTo(cpu.Minus).Within(2 * logitTolerance), "−ε scores");
        Assert.That(cpu.Plus, Is.Not.EqualTo(cpu.Minus));
        if (adapterType == DType.F32) // both apply θ − ηg·z with the same z (exact noise): at most an FMA's rounding apart
            for (int i = 0; i < cpu.Updated.Length; i++)
                Assert.That(gpu.Updated[i], Is.EqualTo(cpu.Updated[i]).Within(1e-6 * (1 + Math.Abs(cpu.Updated[i]))), $"adapter element {i}");
        Assert.That(cpu.Updated, Is.Not.EqualTo(lora.Values.SelectMany(t => t.Values).ToArray()), "the update moved the adapter");
    }
}
