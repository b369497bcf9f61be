using MeZO.Engine.Backends.Cuda.Compilation;
using MeZO.Engine.Backends.Cuda.Ops;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda;

/// <summary>
/// Every kernel file through the NVRTC installed on this machine (CI: Debian's libnvrtc11.2, NVRTC 11.8), for the
/// GPUs the engine targets: machine code, no spills, and exactly the kernels KernelCatalog lists. No GPU needed.
/// </summary>
[Category("Nvrtc")]
public class NvrtcCompileTests
{
    private static NvrtcCompiler Compiler()
    {
        var compiler = NvrtcCompiler.TryLoad(out string problem);
        if (compiler is null) Assert.Ignore($"NVRTC is not available: {problem}");
        return compiler!;
    }

    private static IEnumerable<TestCaseData> FilesAndArchitectures() =>
        from architecture in new[] { 80, 90 }
        from file in KernelCatalog.All
        select new TestCaseData(file.Name, architecture).SetName($"{file.Name} for sm_{architecture}");

    [TestCaseSource(nameof(FilesAndArchitectures))]
    public void CompilesToMachineCodeWithoutSpills(string fileName, int architecture)
    {
        var compiler = Compiler();
        if (!compiler.SupportedArchitectures.Contains(architecture))
            Assert.Ignore($"NVRTC {compiler.Version} does not know sm_{architecture}");
        var file = KernelCatalog.All.Single(f => f.Name == fileName);

        var compiled = compiler.Compile(file, new GpuArchitecture(architecture, MachineCode: true));

        Assert.That(compiled.Image, Is.Not.Empty);
        Assert.That(compiled.Resources.Select(r => r.Kernel), Is.EquivalentTo(file.Kernels), "kernels in the file vs KernelCatalog");
        Assert.That(compiled.Resources.Where(r => r.Spills).Select(r => $"{r.Kernel}: {r.SpillStoreBytes}/{r.SpillLoadBytes} bytes"),
            Is.Empty, "spilled registers");
    }

    /// <summary>Launch geometry has one definition, the launcher's: without its -D options a file does not compile.</summary>
    [TestCaseSource(nameof(FilesWithLaunchGeometry))]
    public void AFileCompiledWithoutItsLaunchGeometryFails(string fileName)
    {
        var compiler = Compiler();
        var file = KernelCatalog.All.Single(f => f.Name == fileName);

        var error = Assert.Throws<KernelCompileException>(() =>
            compiler.Compile(file with { Defines = [] }, new GpuArchitecture(80, MachineCode: true)))!;

        Assert.That(file.Defines.Any(d => error.Log.Contains(d.Name, StringComparison.Ordinal)), error.Log);
    }

    private static IEnumerable<string> FilesWithLaunchGeometry() => KernelCatalog.All.Where(f => f.Defines.Count > 0).Select(f => f.Name);

    [Test]
    public void PtxForAnOlderTargetIsAZeroTerminatedImage()
    {
        var compiler = Compiler();
        var compiled = compiler.Compile(KernelCatalog.Add, new GpuArchitecture(80, MachineCode: false));
        Assert.That(compiled.Image[^1], Is.EqualTo(0), "cuModuleLoadData reads PTX as a C string");
        Assert.That(System.Text.Encoding.ASCII.GetString(compiled.Image), Does.Contain(".entry mezo_add"));
    }

    [Test]
    public void ACompileErrorNamesTheFileAndCarriesNvrtcsLog()
    {
        var compiler = Compiler();
        var broken = new KernelFile("broken.cu", ["mezo_broken"], []);
        var error = Assert.Throws<KernelCompileException>(() => compiler.Compile(broken,
            "#include \"device.cuh\"\nMEZO_KERNEL void mezo_broken(float* x) { x[0] = no_such_name; }\n",
            new GpuArchitecture(80, MachineCode: true)))!;
        Assert.That(error.Message, Does.StartWith("NVRTC could not compile Kernels/broken.cu for sm_80"));
        Assert.That(error.Message, Does.Contain("no_such_name"));
        Assert.That(error.Log, Does.Contain("broken.cu(2)"), "the log points at the line");
    }
}
