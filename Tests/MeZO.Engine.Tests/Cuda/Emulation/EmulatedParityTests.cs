using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Cuda;
using MeZO.Engine.Cuda.Verification;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Cuda.Emulation;

/// <summary>
/// The GPU parity harness (BackendParity, the same one `mezo verify --backend cuda` runs) with CudaBackend on the host
/// emulation of its kernels, in three configurations that between them take every Linear path a GPU without
/// cuBLASLt takes (tensor-core kernel on sm_80, float32 SIMT kernel), both z arithmetics, and every other kernel.
/// </summary>
[Category("HostKernels")]
[TestFixture(MatmulPrecision.Float32, NoiseArithmetic.Exact, 80)]
[TestFixture(MatmulPrecision.Mixed, NoiseArithmetic.Fast, 80)]
[TestFixture(MatmulPrecision.Mixed, NoiseArithmetic.Exact, 75)]
public class EmulatedParityTests(MatmulPrecision precision, NoiseArithmetic noise, int computeCapability)
{
    private CpuBackend _cpu = null!;
    private CudaBackend _emulated = null!;

    private CudaBackendOptions Options => new() { Precision = precision, Noise = noise, UseCublasLt = false };

    [OneTimeSetUp]
    public void Open()
    {
        _cpu = new CpuBackend();
        _emulated = new CudaBackend(new EmulatedRuntime(computeCapability), Options, new MemoryReport());
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

    [TestCaseSource(nameof(TinyModelNames))]
    public void TinyModelLogitsMatchTheCpuBackend(string model)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"mezo-emulated-{model}-{Environment.ProcessId}");
        try
        {
            var (_, config, type) = TinyModels.All.Single(m => m.Name == model);
            Engine.Models.SyntheticCheckpoint.Write(folder, config, type, seed: 7);
            var result = ModelParity.Logits(folder, _cpu, _emulated);
            Assert.That(result.Passed, Is.True, result.ToString());
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    private static IEnumerable<string> TinyModelNames() => TinyModels.All.Select(m => m.Name);
}
