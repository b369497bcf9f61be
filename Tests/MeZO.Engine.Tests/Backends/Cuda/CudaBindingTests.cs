using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MeZO.Engine.Backends.Cuda.Native;
using MeZO.Engine.Backends.Cuda.Runtime;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda;

/// <summary>
/// The native bindings against the real libraries, where they are installed: every [LibraryImport] names a symbol the
/// library exports (a typo or a missing _v2 would otherwise surface only on a GPU), and the structs passed by pointer
/// have the C layout.
/// </summary>
public class CudaBindingTests
{
    private static IEnumerable<TestCaseData> Imports() =>
        from type in new[] { (typeof(CudaDriver), CudaLibrary.Driver), (typeof(Nvrtc), CudaLibrary.Nvrtc), (typeof(CublasLt), CudaLibrary.CublasLt) }
        from method in type.Item1.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
        let import = method.GetCustomAttribute<LibraryImportAttribute>()
        where import is not null
        let entry = import.EntryPoint ?? method.Name
        select new TestCaseData(type.Item2.ToString(), entry).SetName($"{type.Item2}: {entry}");

    [TestCaseSource(nameof(Imports))]
    public void EveryImportedFunctionIsExportedByTheLibrary(string libraryName, string entryPoint)
    {
        var library = Enum.Parse<CudaLibrary>(libraryName);
        var probe = CudaLibraries.Probe(library);
        if (!probe.Found) Assert.Ignore($"{library} is not installed here: {probe.Describe()}");
        Assert.That(NativeLibrary.TryGetExport(probe.Handle, entryPoint, out _), Is.True, $"{entryPoint} in {probe.Path}");
    }

    [Test]
    public void NvrtcBuiltinsBesideTheLibraryAreLoadedWithIt()
    {
        // A real builtins library in a folder on no loader path, as in the CUDA 13 pip wheel (whose libnvrtc has no RUNPATH).
        string? installed = CudaLibraries.VariableFolders().Concat(CudaLibraries.StandardFolders())
            .SelectMany(d => Directory.GetFiles(d, "libnvrtc-builtins.so.*")).FirstOrDefault();
        if (installed is null) Assert.Ignore("no libnvrtc-builtins.so.* installed here");
        string folder = Directory.CreateTempSubdirectory("mezo-nvrtc-").FullName;
        try
        {
            string builtins = Path.Combine(folder, Path.GetFileName(installed!));
            File.CreateSymbolicLink(builtins, installed!);
            Assert.That(CudaLibraries.LoadBuiltinsBeside(Path.Combine(folder, "libnvrtc.so.12")), Is.EqualTo(new[] { builtins }));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void HeuristicResultHasCublasLtsLayout()
    {
        // cublasLt.h: { cublasLtMatmulAlgo_t algo (uint64_t[8]); size_t workspaceSize; cublasStatus_t state;
        // float wavesCount; int reserved[4]; }
        Assert.That(Unsafe.SizeOf<CublasLtMatmulAlgo>(), Is.EqualTo(64));
        Assert.That(Marshal.SizeOf<CublasLtHeuristicResult>(), Is.EqualTo(96));
        Assert.That(Marshal.OffsetOf<CublasLtHeuristicResult>(nameof(CublasLtHeuristicResult.WorkspaceSize)), Is.EqualTo((nint)64));
        Assert.That(Marshal.OffsetOf<CublasLtHeuristicResult>(nameof(CublasLtHeuristicResult.State)), Is.EqualTo((nint)72));
        Assert.That(Marshal.OffsetOf<CublasLtHeuristicResult>(nameof(CublasLtHeuristicResult.WavesCount)), Is.EqualTo((nint)76));
        Assert.That(Marshal.OffsetOf<CublasLtHeuristicResult>(nameof(CublasLtHeuristicResult.Reserved)), Is.EqualTo((nint)80));
    }

    [Test]
    public unsafe void KernelArgumentsSitInTheLowBytesOfEightByteSlots()
    {
        // cuLaunchKernel reads sizeof(parameter) bytes at each pointer: an int or a float must be the argument's first
        // bytes, and a 64-bit value its first eight.
        var i = KernelArgument.I32(-7);
        var f = KernelArgument.F32(1.5f);
        var u = KernelArgument.U64(0xFEDC_BA98_7654_3210ul);
        Assert.That(*(int*)&i, Is.EqualTo(-7));
        Assert.That(*(float*)&f, Is.EqualTo(1.5f));
        Assert.That(*(ulong*)&u, Is.EqualTo(0xFEDC_BA98_7654_3210ul));
    }
}
