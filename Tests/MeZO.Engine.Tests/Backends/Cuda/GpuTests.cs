using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Models;
using MeZO.Verification;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda;

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

    /// <summary>
    /// The tiny models' logits, op by op, and one MeZO step, in float32 and in 16-bit compute: with 16-bit activations
    /// on both backends, so the kernels meet the CPU's rounding points rather than its float32 (issue 15).
    /// </summary>
    [TestCaseSource(nameof(TinyModelCases))]
    public void TinyModelLogitsAndAMezoStepMatchTheCpuBackend(string model, DType compute)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"mezo-gpu-{model}-{compute}-{Environment.ProcessId}");
        try
        {
            var (_, config, type) = TinyModels.All.Single(m => m.Name == model);
            SyntheticCheckpoint.Write(folder, config, type, seed: 7);
            var logits = ModelParity.Logits(folder, _cpu, _gpu, compute: compute);
            Assert.That(logits.Passed, Is.True, logits.ToString());
            var step = ModelParity.MezoStep(folder, _cpu, _gpu, compute: compute);
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

    [Test]
    public void GraphReplayEqualsRunningTheOpsDirectly() => AssertPassed(GpuOnlyChecks.GraphReplay(_gpu));

    [Test]
    public void UploadDuringCaptureIsRefusedAndTheStreamStaysUsable() => AssertPassed(GpuOnlyChecks.CaptureRefusesCopies(_gpu));

    [Test]
    public void MemoryReportCountsDeviceAllocationsByCategory() => AssertPassed(GpuOnlyChecks.MemoryAccounting(_gpu));

    private static void AssertPassed(ParityResult result) => Assert.That(result.Passed, Is.True, result.ToString());
}
