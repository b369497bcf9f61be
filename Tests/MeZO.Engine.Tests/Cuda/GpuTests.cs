using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Cuda;
using MeZO.Engine.Cuda.Verification;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Cuda;

/// <summary>
/// The parity harness on a real GPU, in the configurations `mezo verify --backend cuda` runs, plus what only a GPU
/// has: cuBLASLt, CUDA graphs and the driver's memory. Ignored, with the reason, where CudaBackend cannot start.
/// </summary>
[Category("Gpu")]
[TestFixture(MatmulPrecision.Mixed, NoiseArithmetic.Exact, true)]
[TestFixture(MatmulPrecision.Float32, NoiseArithmetic.Fast, true)]
[TestFixture(MatmulPrecision.Mixed, NoiseArithmetic.Exact, false)]
public class GpuTests(MatmulPrecision precision, NoiseArithmetic noise, bool cublasLt)
{
    private CpuBackend _cpu = null!;
    private CudaBackend _gpu = null!;

    private CudaBackendOptions Options => new() { Precision = precision, Noise = noise, UseCublasLt = cublasLt };

    [OneTimeSetUp]
    public void Open()
    {
        _cpu = new CpuBackend();
        try
        {
            _gpu = CudaBackend.Create(Options);
        }
        catch (InvalidInputException e)
        {
            Assert.Ignore($"no CUDA device: {e.Message}");
        }
    }

    [OneTimeTearDown]
    public void Close()
    {
        _gpu?.Dispose();
        _cpu?.Dispose();
    }

    private static IEnumerable<TestCaseData> CaseNames() =>
        BackendParity.Cases(new CudaBackendOptions()).Select(c => new TestCaseData(c.Operation, c.Name).SetName($"{c.Operation}: {c.Name}"));

    [TestCaseSource(nameof(CaseNames))]
    public void MatchesTheCpuBackend(string operation, string name)
    {
        var result = BackendParity.Cases(Options).Single(c => c.Operation == operation && c.Name == name).Run(_cpu, _gpu);
        Assert.That(result.Passed, Is.True, result.ToString());
    }

    [TestCaseSource(nameof(TinyModelNames))]
    public void TinyModelLogitsMatchTheCpuBackend(string model)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"mezo-gpu-{model}-{Environment.ProcessId}");
        try
        {
            var (_, config, type) = TinyModels.All.Single(m => m.Name == model);
            SyntheticCheckpoint.Write(folder, config, type, seed: 7);
            var result = ModelParity.Logits(folder, _cpu, _gpu);
            Assert.That(result.Passed, Is.True, result.ToString());
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    private static IEnumerable<string> TinyModelNames() => TinyModels.All.Select(m => m.Name);

    /// <summary>A captured sequence replayed twice gives what running it directly twice gives.</summary>
    [Test]
    public void GraphReplayEqualsRunningTheOpsDirectly()
    {
        var values = Enumerable.Range(0, 1000).Select(i => MathF.Sin(i) * 3).ToArray();
        using var direct = _gpu.Allocate(new TensorShape(1000), DType.F32, MemoryCategory.Activations, "direct");
        using var replayed = _gpu.Allocate(new TensorShape(1000), DType.F32, MemoryCategory.Activations, "replayed");
        using var y = _gpu.Allocate(new TensorShape(1000), DType.F32, MemoryCategory.Activations, "y");
        foreach (var t in new[] { direct, replayed, y }) _gpu.Upload<float>(t, values);
        void Work(Tensor x)
        {
            _gpu.Activation(Engine.Backends.ActivationKind.Silu, x);
            _gpu.Add(x, y);
            _gpu.Perturb(x, 99, 3, 0.5f);
        }
        Work(direct);
        Work(direct);
        Work(replayed); // compiles the kernels before capture
        using (var graph = _gpu.Capture(() => Work(replayed))) graph.Launch();
        var a = new float[1000];
        var b = new float[1000];
        _gpu.Download<float>(direct, a);
        _gpu.Download<float>(replayed, b);
        Assert.That(b, Is.EqualTo(a).AsCollection);
    }

    [Test]
    public void UploadDuringCaptureIsRefusedAndTheStreamStaysUsable()
    {
        using var t = _gpu.Allocate(new TensorShape(4), DType.F32, MemoryCategory.Activations, "t");
        Assert.Throws<InvalidOperationException>(() => _gpu.Capture(() => _gpu.Upload<float>(t, [1, 2, 3, 4])).Dispose());
        _gpu.Upload<float>(t, [1, 2, 3, 4]);
        var back = new float[4];
        _gpu.Download<float>(t, back);
        Assert.That(back, Is.EqualTo(new float[] { 1, 2, 3, 4 }));
    }

    [Test]
    public void MemoryReportCountsDeviceAllocationsByCategory()
    {
        long before = _gpu.Memory.Current(MemoryCategory.Weights);
        using (var w = _gpu.Allocate(new TensorShape(1 << 20), DType.BF16, MemoryCategory.Weights, "w"))
            Assert.That(_gpu.Memory.Current(MemoryCategory.Weights) - before, Is.EqualTo(2L << 20));
        Assert.That(_gpu.Memory.Current(MemoryCategory.Weights), Is.EqualTo(before));
        var device = _gpu.DeviceMemory;
        Assert.That(device.Total, Is.GreaterThan(0));
        Assert.That(device.Free, Is.InRange(0, device.Total));
    }
}
