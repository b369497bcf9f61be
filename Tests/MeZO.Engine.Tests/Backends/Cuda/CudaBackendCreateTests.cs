using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cuda;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda;

/// <summary>`--backend cuda` on a machine without a GPU, a driver or NVRTC: one clear line, never a loader error.</summary>
public class CudaBackendCreateTests
{
    private static string? CreateOrProblem(Func<IBackend> create)
    {
        try
        {
            using var backend = create();
            return null;
        }
        catch (InvalidInputException e)
        {
            return e.Message;
        }
    }

    [Test]
    public void WithoutAGpuCreateFailsWithOneLineSayingWhatIsMissing()
    {
        string? problem = CreateOrProblem(() => CudaBackend.Create());
        if (problem is null) Assert.Ignore("a CUDA device is present: this checks the machines without one");
        Assert.That(problem, Does.Not.Contain('\n'));
        Assert.That(problem, Does.StartWith("--backend cuda: "));
        Assert.That(problem, Does.Contain("driver library is not installed").Or.Contain("no CUDA device").Or.Contain("NVRTC"));
    }

    [Test]
    public void TheCommandLineFactoryGivesTheSameLine()
    {
        string? direct = CreateOrProblem(() => CudaBackend.Create());
        if (direct is null) Assert.Ignore("a CUDA device is present: this checks the machines without one");
        Assert.That(CreateOrProblem(() => BackendFactory.Create("cuda")), Is.EqualTo(direct));
    }

    [TestCase("MEZO_CUDA_MATMUL", "blas", "MEZO_CUDA_MATMUL='blas' is unknown (cublaslt, kernels)")]
    [TestCase("MEZO_CUDA_PRECISION", "fp8", "MEZO_CUDA_PRECISION='fp8' is unknown (mixed, f32)")]
    [TestCase("MEZO_CUDA_NOISE", "approximate", "MEZO_CUDA_NOISE='approximate' is unknown (exact, fast)")]
    [TestCase("MEZO_CUDA_DEVICE", "-1", "MEZO_CUDA_DEVICE='-1' is not a device number")]
    public void AnUnknownSettingNamesTheVariable(string variable, string value, string message)
    {
        string? saved = Environment.GetEnvironmentVariable(variable);
        try
        {
            Environment.SetEnvironmentVariable(variable, value);
            Assert.That(() => CudaBackendOptions.FromEnvironment(), Throws.TypeOf<InvalidInputException>().With.Message.EqualTo(message));
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, saved);
        }
    }

    [TestCase(null, 5, true, 1, TestName = "under mpirun, rank 5 of its node opens device 5 mod 4")]
    [TestCase(null, 2, true, 2, TestName = "under mpirun, rank 2 of its node opens device 2")]
    [TestCase("3", 5, false, 3, TestName = "MEZO_CUDA_DEVICE outranks the rank's place")]
    public void RanksOfANodeSpreadOverItsDevices(string? device, int localRank, bool fromLocalRank, int opened)
    {
        var variables = new Dictionary<string, string?> { ["MEZO_CUDA_DEVICE"] = device, ["OMPI_COMM_WORLD_LOCAL_RANK"] = $"{localRank}" };
        var saved = variables.Keys.ToDictionary(v => v, Environment.GetEnvironmentVariable);
        try
        {
            foreach (var (name, value) in variables) Environment.SetEnvironmentVariable(name, value);
            var options = CudaBackendOptions.FromEnvironment();
            Assert.That(options.DeviceFromLocalRank, Is.EqualTo(fromLocalRank));
            Assert.That(options.OrdinalAmong(4), Is.EqualTo(opened), "on a node with four devices");
        }
        finally
        {
            foreach (var (name, value) in saved) Environment.SetEnvironmentVariable(name, value);
        }
    }

    [Test]
    public void SettingsComeFromTheEnvironment()
    {
        var variables = new Dictionary<string, string>
        {
            ["MEZO_CUDA_MATMUL"] = "kernels", ["MEZO_CUDA_PRECISION"] = "F32", ["MEZO_CUDA_NOISE"] = "fast", ["MEZO_CUDA_DEVICE"] = "1",
        };
        var saved = variables.Keys.ToDictionary(v => v, Environment.GetEnvironmentVariable);
        try
        {
            foreach (var (name, value) in variables) Environment.SetEnvironmentVariable(name, value);
            Assert.That(CudaBackendOptions.FromEnvironment(), Is.EqualTo(new CudaBackendOptions
            {
                UseCublasLt = false, Precision = MatmulPrecision.Float32, Noise = NoiseArithmetic.Fast, Device = 1,
            }));
        }
        finally
        {
            foreach (var (name, value) in saved) Environment.SetEnvironmentVariable(name, value);
        }
    }
}
