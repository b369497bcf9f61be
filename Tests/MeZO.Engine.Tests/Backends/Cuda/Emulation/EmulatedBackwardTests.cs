using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Backends.Cuda.Ops;
using MeZO.Engine.Tensors;
using MeZO.Verification;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda.Emulation;

/// <summary>
/// The CUDA twins of the backward and optimizer ops (IBackwardOps, IOptimizerOps) on the host emulation of their kernels, against the CPU backend:
/// every backward parity case (BackendParity.Backward.cs: awkward shapes, GQA, padding on both sides, windows,
/// partial rotary, GPT-2's transposed weights, bias or none, gradients written over their inputs), in configurations
/// that take the products' float32 kernel, the tensor-core kernel (16-bit weights, sm_80, no cuBLASLt) and the
/// emulated cuBLASLt with its kernel fallback. Not in the Slow category: a backward kernel that drifts from its CPU
/// twin fails the everyday run.
/// </summary>
[Category("HostKernels")]
[TestFixture(MatmulPrecision.Float32, 80, false)]
[TestFixture(MatmulPrecision.Mixed, 80, false)]
[TestFixture(MatmulPrecision.Mixed, 90, true)]
public class EmulatedBackwardTests(MatmulPrecision precision, int computeCapability, bool cublasLt)
{
    private CpuBackend _cpu = null!;
    private CudaBackend _emulated = null!;

    private CudaBackendOptions Options => new() { Precision = precision, UseCublasLt = cublasLt };

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

    /// <summary>The ops of first-order training: IBackwardOps' and IOptimizerOps' (the updates, the norm, zeroing).</summary>
    private static readonly HashSet<string> TrainingOps =
        [.. typeof(IBackwardOps).GetMethods().Concat(typeof(IOptimizerOps).GetMethods()).Select(m => m.Name)];

    private static IEnumerable<TestCaseData> BackwardCaseNames() =>
        BackendParity.Cases(new CudaBackendOptions()).Where(c => TrainingOps.Contains(c.Operation))
            .Select(c => new TestCaseData(c.Operation, c.Name).SetName($"{c.Operation}: {c.Name}"));

    [TestCaseSource(nameof(BackwardCaseNames))]
    public void MatchesTheCpuBackend(string operation, string name)
    {
        var parity = BackendParity.Cases(Options).Single(c => c.Operation == operation && c.Name == name);
        var result = parity.Run(_cpu, _emulated);
        Assert.That(result.Passed, Is.True, result.ToString());
    }

    /// <summary>
    /// A weight gradient computed in bands of rows (the scratch limit an LM head meets) is bit-identical to one computed
    /// in one band: every element is the same product over all M rows, only its place in scratch moves. Bands of 7
    /// rows of a 17-row gradient leave a partial last band; both layouts.
    /// </summary>
    [TestCase(false)]
    [TestCase(true)]
    public void AWeightGradientInBandsEqualsOneInOneBand(bool transposed)
    {
        const int m = 9, k = 17, n = 13;
        int rows = transposed ? k : n, columns = transposed ? n : k;
        var random = new Random(12);
        float[] Values(int count) => Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        using var x = Upload(Values(m * k), "x", m, k);
        using var weight = Upload(Values(n * k), "weight", transposed ? [k, n] : [n, k]);
        using var outputGrad = Upload(Values(m * n), "output grad", m, n);
        var start = Values(n * k);
        using var whole = Upload(start, "weight grad", transposed ? [k, n] : [n, k]);
        using var banded = Upload(start, "weight grad", transposed ? [k, n] : [n, k]);

        CudaLinearBackward.Run(_emulated, x, weight, transposed, outputGrad, null, whole, null, scratchFloats: 1L << 24);
        CudaLinearBackward.Run(_emulated, x, weight, transposed, outputGrad, null, banded, null, scratchFloats: 7L * (m + columns));

        Assert.That(rows, Is.GreaterThan(7), "several bands");
        Assert.That(HostValues.Read(banded), Is.EqualTo(HostValues.Read(whole)));
    }

    /// <summary>
    /// An id outside the table is found on the device and raised at the next synchronisation as the CPU's
    /// ArgumentException, naming the op, with nothing written (the CPU checks every id before it adds any row).
    /// </summary>
    [Test]
    public void ABadIdIsRaisedAtTheNextSynchronisationWithNothingWritten()
    {
        float[] start = [1, 2, 3, 4, 5, 6, 7, 8];
        using var outputGrad = Upload([10, 20, 30, 40, 50, 60], "output grad", 3, 2);
        using var tableGrad = Upload(start, "table grad", 4, 2);
        using var ids = _emulated.Allocate(new TensorShape(3), DType.I32, MemoryCategory.Activations, "ids");
        _emulated.Upload<int>(ids, [0, 7, 1]);

        ((IBackwardOps)_emulated).EmbeddingBackward(outputGrad, ids, tableGrad);

        var error = Assert.Throws<ArgumentException>(() => _emulated.Synchronize())!;
        Assert.That(error.Message, Does.StartWith("EmbeddingBackward: id 7 at position 1"));
        Assert.That(HostValues.Read(tableGrad), Is.EqualTo(start));
    }

    private Tensor Upload(float[] values, string name, params int[] shape)
    {
        var t = _emulated.Allocate(new TensorShape(shape), DType.F32, MemoryCategory.Activations, name);
        HostValues.Write(t, values);
        return t;
    }
}
