using MeZO.Tests.Common;
using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Tensors;
using MeZO.Verification;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda.Emulation;

/// <summary>
/// The GPU parity harness (BackendParity, the same one `mezo verify --backend cuda` runs) with CudaBackend on the host
/// emulation of its kernels, in configurations that between them take every Linear path: without cuBLASLt the
/// tensor-core kernel (sm_80) and the float32 SIMT kernel; with the emulated cuBLASLt its mixed, TF32 and float32
/// paths, and (for the shapes its stand-in heuristic refuses, K below 4) the kernel fallback. Both z arithmetics and
/// every other kernel run too, each launch checked against its kernel's parameter list. The tiny models are compared op
/// by op (ModelParity.Logits), so a failure names the first op and layer that diverges.
/// </summary>
[Category("HostKernels")]
[Category(TestSpeed.Slow)]
[TestFixture(MatmulPrecision.Float32, NoiseArithmetic.Exact, 80, false)]
[TestFixture(MatmulPrecision.Mixed, NoiseArithmetic.Fast, 80, false)]
[TestFixture(MatmulPrecision.Mixed, NoiseArithmetic.Exact, 75, false)]
[TestFixture(MatmulPrecision.Mixed, NoiseArithmetic.Exact, 90, true)]
[TestFixture(MatmulPrecision.Float32, NoiseArithmetic.Exact, 90, true)]
public class EmulatedParityTests(MatmulPrecision precision, NoiseArithmetic noise, int computeCapability, bool cublasLt)
{
    private CpuBackend _cpu = null!;
    private CudaBackend _emulated = null!;

    private CudaBackendOptions Options => new() { Precision = precision, Noise = noise, UseCublasLt = cublasLt };

    [OneTimeSetUp]
    public void Open()
    {
        _cpu = new CpuBackend();
        var products = cublasLt ? new EmulatedMatrixProducts(call => call.K >= 4) : null;
        _emulated = new CudaBackend(new EmulatedRuntime(computeCapability, products), Options, new MemoryReport());
    }

    [OneTimeTearDown]
    public void Close()
    {
        _emulated?.Dispose();
        _cpu?.Dispose();
    }

    private static IEnumerable<TestCaseData> CaseNames() =>
        BackendParity.Cases(new CudaBackendOptions()).Select(c => new TestCaseData(c.Operation, c.Name).SetName($"{c.Operation}: {c.Name}"));

    [TestCaseSource(nameof(CaseNames))]
    public void MatchesTheCpuBackend(string operation, string name)
    {
        var parity = BackendParity.Cases(Options).Single(c => c.Operation == operation && c.Name == name);
        var result = parity.Run(_cpu, _emulated);
        Assert.That(result.Passed, Is.True, result.ToString());
    }

    /// <summary>
    /// The tiny models' logits, op by op, and one MeZO step, in float32 and in 16-bit compute: with 16-bit activations
    /// on both backends, so the kernels meet the CPU's rounding points rather than its float32 (issue 15).
    /// </summary>
    [TestCaseSource(nameof(TinyModelCases))]
    public void TinyModelLogitsAndAMezoStepMatchTheCpuBackend(string model, DType compute)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"mezo-emulated-{model}-{compute}-{Environment.ProcessId}");
        try
        {
            var (_, config, type) = TinyModels.All.Single(m => m.Name == model);
            Engine.Models.SyntheticCheckpoint.Write(folder, config, type, seed: 7);
            var logits = ModelParity.Logits(folder, _cpu, _emulated, compute: compute);
            Assert.That(logits.Passed, Is.True, logits.ToString());
            var step = ModelParity.MezoStep(folder, _cpu, _emulated, compute: compute);
            Assert.That(step.Passed, Is.True, step.ToString());
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    private static IEnumerable<TestCaseData> TinyModelCases() =>
        TinyModels.All.SelectMany(m => new[] { DType.F32, DType.BF16 }.Select(c => new TestCaseData(m.Name, c)))
            .Append(new TestCaseData("tiny-llama", DType.F16));

    /// <summary>
    /// The adapted passes `mezo verify --backend cuda` checks on a GPU, here on the emulation (LoRA and prefix have
    /// fuller emulated tests of their own in Adapters/; this one runs the harness the GPU check uses).
    /// </summary>
    [TestCase("tiny-gpt2", AdapterUnderTest.Lora, DType.F32)]
    [TestCase("tiny-llama", AdapterUnderTest.Prefix, DType.F32)]
    [TestCase("tiny-gpt2", AdapterUnderTest.Lora, DType.BF16)]
    [TestCase("tiny-llama", AdapterUnderTest.Prefix, DType.BF16)]
    public void AdaptedTinyModelsMatchTheCpuBackend(string model, AdapterUnderTest adapter, DType compute)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"mezo-emulated-{model}-{adapter}-{compute}-{Environment.ProcessId}");
        try
        {
            var (_, config, type) = TinyModels.All.Single(m => m.Name == model);
            Engine.Models.SyntheticCheckpoint.Write(folder, config, type, seed: 7);
            var logits = ModelParity.Logits(folder, _cpu, _emulated, adapter: adapter, compute: compute);
            Assert.That(logits.Passed, Is.True, logits.ToString());
            Assert.That(logits.Case, Does.Contain("with"), "the adapter was attached");
            var step = ModelParity.MezoStep(folder, _cpu, _emulated, adapter: adapter, compute: compute);
            Assert.That(step.Passed, Is.True, step.ToString());
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }
}
