using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Backends.Cuda.Compilation;
using MeZO.Engine.Backends.Cuda.Ops;
using MeZO.Verification;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda;

/// <summary>
/// Every op of IBackend, IBackwardOps and IOptimizerOps has CUDA kernels and parity cases against its CPU twin (the reference), so
/// a new op cannot be added to either interface without both: the GPU implementation and the check that it agrees
/// with the CPU.
/// </summary>
public class CudaOpCoverageTests
{
    private static readonly string[] Infrastructure =
    [
        nameof(IBackend.Allocate), nameof(IBackend.Upload), nameof(IBackend.Download), nameof(IBackend.Synchronize),
        nameof(IBackend.DefaultCompute), nameof(IDisposable.Dispose),
    ];

    private static string[] Operations() =>
        typeof(IBackend).GetMethods().Concat(typeof(IBackwardOps).GetMethods()).Concat(typeof(IOptimizerOps).GetMethods())
            .Where(m => !m.IsSpecialName).Select(m => m.Name)
            .Except(Infrastructure).Distinct().Order().ToArray();

    [Test]
    public void TheCudaBackendHasTheBackwardAndOptimizerOps()
    {
        Assert.That(typeof(IBackwardOps).IsAssignableFrom(typeof(CudaBackend)));
        Assert.That(typeof(IOptimizerOps).IsAssignableFrom(typeof(CudaBackend)));
    }

    [Test]
    public void EveryOpHasKernelFiles()
    {
        Assert.That(KernelCatalog.ByOperation.Keys.Order(), Is.EqualTo(Operations()));
        Assert.That(KernelCatalog.ByOperation.Values.SelectMany(f => f).Distinct(), Is.SubsetOf(KernelCatalog.All));
    }

    [Test]
    public void EveryOpHasParityCasesAgainstTheCpuBackend()
    {
        var covered = BackendParity.Cases(new CudaBackendOptions()).Select(c => c.Operation).Distinct().Order();
        Assert.That(covered, Is.EqualTo(Operations()));
    }

    [Test]
    public void EveryKernelFileServesAnOp()
    {
        Assert.That(KernelCatalog.All.Except(KernelCatalog.ByOperation.Values.SelectMany(f => f)), Is.Empty);
    }

    [Test]
    public void EveryEmbeddedKernelFileIsCatalogued()
    {
        var embedded = KernelSources.Files.Keys.Where(f => f.EndsWith(".cu", StringComparison.Ordinal));
        Assert.That(embedded.Order(), Is.EqualTo(KernelCatalog.All.Select(f => f.Name).Order()));
    }
}
