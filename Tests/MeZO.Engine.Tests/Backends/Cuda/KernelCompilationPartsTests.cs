using MeZO.Engine.Backends.Cuda.Compilation;
using MeZO.Engine.Backends.Cuda.Ops;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda;

/// <summary>The pieces around NVRTC that need no library: target choice, the ptxas report, the cache.</summary>
public class KernelCompilationPartsTests
{
    [TestCase(90, new[] { 80, 86, 89, 90 }, 90, true)]   // known: machine code
    [TestCase(90, new[] { 75, 80, 86 }, 86, false)]      // too new for this NVRTC: PTX of the newest older target
    [TestCase(100, new[] { 80, 90 }, 90, false)]
    [TestCase(80, new[] { 80 }, 80, true)]
    public void ChoosesMachineCodeWhenKnownElsePtxOfTheNewestOlderTarget(int device, int[] supported, int expected, bool machineCode)
    {
        Assert.That(GpuArchitecture.Choose(device, supported), Is.EqualTo(new GpuArchitecture(expected, machineCode)));
    }

    [Test]
    public void NoTargetWhenNvrtcKnowsOnlyNewerArchitectures()
    {
        Assert.That(GpuArchitecture.Choose(70, [80, 90]), Is.Null);
    }

    [TestCase("sm_80", 80)]
    [TestCase("sm_90", 90)]
    [TestCase("86", 86)]
    [TestCase("8.9", 89)]
    [TestCase(" SM_75 ", 75)]
    public void ParsesArchitectureNames(string text, int expected)
    {
        Assert.That(GpuArchitecture.TryParseComputeCapability(text, out int cc), Is.True);
        Assert.That(cc, Is.EqualTo(expected));
    }

    [TestCase("sm_x")]
    [TestCase("compute")]
    [TestCase("")]
    [TestCase("12")]
    public void RejectsWhatIsNotAnArchitecture(string text)
    {
        Assert.That(GpuArchitecture.TryParseComputeCapability(text, out _), Is.False);
    }

    /// <summary>A log written as ptxas 11.8 writes it, with a non-inlined function whose stack counts to its entry.</summary>
    [Test]
    public void ReadsRegistersSharedMemoryAndSpillsFromThePtxasLog()
    {
        const string log = """
            ptxas info    : 0 bytes gmem
            ptxas info    : Compiling entry function 'mezo_a' for 'sm_80'
            ptxas info    : Function properties for mezo_a
            ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Used 30 registers, 376 bytes cmem[0]
            ptxas info    : Function properties for __internal_trig_reduction
            ptxas         .     40 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Compiling entry function 'mezo_b' for 'sm_80'
            ptxas info    : Function properties for mezo_b
            ptxas         .     8 bytes stack frame, 24 bytes spill stores, 32 bytes spill loads
            ptxas info    : Used 255 registers, 10240 bytes smem, 412 bytes cmem[0], 8 bytes cmem[2]
            """;

        var kernels = KernelResources.ParsePtxasLog(log);

        Assert.That(kernels, Is.EqualTo(new[]
        {
            new KernelResources("mezo_a", 30, 0, 0, 0, 0),
            new KernelResources("mezo_b", 255, 10240, 48, 24, 32),
        }));
        Assert.That(kernels.Select(k => k.Spills), Is.EqualTo(new[] { false, true }));
    }

    [Test]
    public void CacheKeyChangesWithEveryInputOfTheCompilation()
    {
        var target = new GpuArchitecture(80, true);
        var options = NvrtcCompiler.Options(KernelCatalog.Add, target);
        string key = KernelCache.Key(KernelCatalog.Add, target, options, "11.8");

        Assert.That(KernelCache.Key(KernelCatalog.Add, target, options, "11.8"), Is.EqualTo(key), "deterministic");
        Assert.That(KernelCache.Key(KernelCatalog.Add, target, options, "12.4"), Is.Not.EqualTo(key), "NVRTC version");
        Assert.That(KernelCache.Key(KernelCatalog.Add, new GpuArchitecture(90, true), options, "11.8"), Is.Not.EqualTo(key), "target");
        Assert.That(KernelCache.Key(KernelCatalog.Add, target, [.. options, "--fmad=false"], "11.8"), Is.Not.EqualTo(key), "options");
        Assert.That(KernelCache.Key(KernelCatalog.SiluMul, target, options, "11.8"), Is.Not.EqualTo(key), "source");
    }

    // Keys as KernelCache.Key makes them: 64 hex digits, of which file names keep 16.
    private static readonly string First = new('a', 64), Second = new('b', 64), Third = new('c', 64);

    [Test]
    public void CacheReturnsWhatWasWrittenAndNothingElse()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"mezo-cache-test-{Guid.NewGuid():N}");
        try
        {
            var cache = new KernelCache(folder);
            var target = new GpuArchitecture(90, true);
            Assert.That(cache.TryRead(KernelCatalog.Add, target, First), Is.Null, "empty cache");
            cache.Write(KernelCatalog.Add, target, First, [1, 2, 3]);
            Assert.That(cache.TryRead(KernelCatalog.Add, target, First), Is.EqualTo(new byte[] { 1, 2, 3 }));
            Assert.That(cache.TryRead(KernelCatalog.Add, target, Second), Is.Null, "another key");
            Assert.That(Directory.GetFiles(folder).Select(Path.GetFileName), Is.EqualTo(new[] { "add-sm_90-aaaaaaaaaaaaaaaa.cubin" }), "no temporary left");
            cache.Remove(KernelCatalog.Add, target, First);
            Assert.That(cache.TryRead(KernelCatalog.Add, target, First), Is.Null, "removed");
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void AnUnwritableCacheOnlyCostsARecompilation()
    {
        // A cache folder under a regular file cannot be created: the write is skipped, no exception escapes.
        string file = Path.GetTempFileName();
        try
        {
            var cache = new KernelCache(Path.Combine(file, "kernels"));
            Assert.DoesNotThrow(() => cache.Write(KernelCatalog.Add, new GpuArchitecture(80, true), Third, [9]));
            Assert.That(cache.TryRead(KernelCatalog.Add, new GpuArchitecture(80, true), Third), Is.Null);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
