using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cuda.Native;
using MeZO.Engine.Backends.Cuda.Ops;
using MeZO.Engine.Backends.Cuda.Planning;
using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Tensors;
using NUnit.Framework;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Tests.Backends.Cuda.Planning;

/// <summary>
/// The plan's cost table: complete for every kernel a forward pass or a MeZO step can launch (a new kernel fails here
/// before any plan runs), with no entry for a kernel that does not exist, and a few costs against arithmetic done by hand.
/// </summary>
public class KernelCostsTests
{
    /// <summary>The kernels of every file that serves an IBackend op (the forward pass and MeZO's perturbed reads and update).</summary>
    private static string[] ForwardAndMezoKernels()
    {
        var ops = typeof(IBackend).GetMethods().Select(m => m.Name).ToHashSet();
        return KernelCatalog.ByOperation.Where(op => ops.Contains(op.Key)).SelectMany(op => op.Value).Distinct()
            .SelectMany(file => file.Kernels).Distinct().Order().ToArray();
    }

    [Test]
    public void EveryKernelAForwardPassOrMezoStepCanLaunchHasACost()
    {
        var missing = ForwardAndMezoKernels().Where(k => !KernelCosts.ByKernel.ContainsKey(k)).ToArray();
        Assert.That(missing, Is.Empty,
            "kernels with no entry in Engine/Backends/Cuda/Planning/KernelCosts.cs; `mezo bench step --plan` cannot price them");
    }

    [Test]
    public void EveryCostNamesACataloguedKernel()
    {
        var catalogued = KernelCatalog.All.SelectMany(f => f.Kernels).ToHashSet();
        Assert.That(KernelCosts.ByKernel.Keys.Where(k => !catalogued.Contains(k)), Is.Empty);
    }

    [Test]
    public void ACublasLtProductIsTwoMnkFlopsAndReadsEachOperandOnce()
    {
        const int m = 96, n = 40, k = 24;
        var cost = KernelCosts.Product(new MatmulCall(m, n, k, 1, CudaDataType.R16BF, 2, CudaDataType.R16BF, false, 3, CudaDataType.R32F, 4,
            CudaDataType.R16BF, CublasComputeType.Compute32F));

        Assert.That(cost.Flops, Is.EqualTo(2.0 * m * n * k + m * n)); // the bias epilogue adds one per output
        Assert.That(cost.BytesRead, Is.EqualTo((m * k + n * k) * 2 + n * 4));
        Assert.That(cost.BytesWritten, Is.EqualTo(m * n * 2), "a bf16 output is written in bf16");
        Assert.That(cost.Pipe, Is.EqualTo(ComputePipe.HalfTensor));

        var tf32 = KernelCosts.Product(new MatmulCall(m, n, k, 1, CudaDataType.R32F, 2, CudaDataType.R32F, false, 0, CudaDataType.R32F, 4,
            CudaDataType.R32F, CublasComputeType.Compute32FFastTF32));
        Assert.That(tf32.BytesWritten, Is.EqualTo(m * n * 4));
        Assert.That(tf32.Flops, Is.EqualTo(2.0 * m * n * k));
        Assert.That(tf32.BytesRead, Is.EqualTo((m * k + n * k) * 4));
        Assert.That(tf32.Pipe, Is.EqualTo(ComputePipe.Tf32Tensor));
        Assert.That(KernelCosts.Product(new MatmulCall(m, n, k, 1, CudaDataType.R32F, 2, CudaDataType.R32F, false, 0, CudaDataType.R32F, 4,
            CudaDataType.R32F, CublasComputeType.Compute32F)).Pipe, Is.EqualTo(ComputePipe.Fp32));
    }

    [Test]
    public void AGemmKernelCostsWhatTheSameProductCostsOnCublasLt()
    {
        const int m = 70, n = 33, k = 17;
        var cost = KernelCosts.Of(new KernelCall("mezo_gemm_mma_bf16", new LaunchShape(new Dim3(1), new Dim3(128)),
        [
            Pointer(1), I32((int)DType.F32), Pointer(2), I32((int)DType.BF16), I32(0), Pointer(0), I32(CudaNorms.NoTensor), Pointer(3),
            I32(m), I32(n), I32(k), I32(0),
        ]));

        Assert.That(cost.Flops, Is.EqualTo(2.0 * m * n * k));
        Assert.That(cost.BytesRead, Is.EqualTo(m * k * 4 + n * k * 2)); // float32 x, bf16 W
        Assert.That(cost.BytesWritten, Is.EqualTo(m * n * 4));
        Assert.That(cost.Pipe, Is.EqualTo(ComputePipe.HalfTensor));

        var sixteen = KernelCosts.Of(new KernelCall("mezo_gemm_mma_bf16", new LaunchShape(new Dim3(1), new Dim3(128)),
        [
            Pointer(1), I32((int)DType.BF16), Pointer(2), I32((int)DType.BF16), I32(0), Pointer(0), I32(CudaNorms.NoTensor), Pointer(3),
            I32(m), I32(n), I32(k), I32(2),
        ]));
        Assert.That(sixteen.BytesRead, Is.EqualTo(m * k * 2 + n * k * 2 + m * n * 2), "bf16 activations are read in bf16, the residual too");
        Assert.That(sixteen.BytesWritten, Is.EqualTo(m * n * 2));
    }

    [Test]
    public void ALayerNormReadsAndWritesEveryElementOnceAndItsParametersOnce()
    {
        const int rows = 37, width = 200;
        var cost = KernelCosts.Of(new KernelCall("mezo_layernorm", LaunchShape.PerRow(rows, width),
            [Pointer(1), I32((int)DType.F32), Pointer(2), I32((int)DType.BF16), Pointer(3), I32((int)DType.F32), F32(1e-5f), Pointer(4), I32(width)]));

        Assert.That(cost.BytesRead, Is.EqualTo(rows * width * 4 + width * 2 + width * 4));
        Assert.That(cost.BytesWritten, Is.EqualTo(rows * width * 4));

        var sixteen = KernelCosts.Of(new KernelCall("mezo_layernorm", LaunchShape.PerRow(rows, width),
            [Pointer(1), I32((int)DType.BF16), Pointer(2), I32((int)DType.BF16), Pointer(3), I32((int)DType.F32), F32(1e-5f), Pointer(4), I32(width)]));
        Assert.That(sixteen.BytesRead, Is.EqualTo(rows * width * 2 + width * 2 + width * 4), "bf16 activations are read in bf16");
        Assert.That(sixteen.BytesWritten, Is.EqualTo(rows * width * 2));
    }

    [Test]
    public void AnUpdateReadsAndWritesTheWeightInItsOwnDtype()
    {
        const long n = 1000;
        var cost = KernelCosts.Of(new KernelCall("mezo_update_bf16_exact", LaunchShape.Striding(n),
            [Pointer(1), U64(n), U64(0), U64(7), F32(1), F32(0), I32(1), I32(0), Pointer(2)]));

        Assert.That((cost.BytesRead, cost.BytesWritten), Is.EqualTo((n * 2, n * 2)));
        Assert.That(cost.Pipe, Is.EqualTo(ComputePipe.Fp64)); // exact z is made in double precision
    }

    [Test]
    public void AKernelWithoutACostOrLaunchedWithOtherParametersFailsNamingTheTable()
    {
        var unknown = Assert.Throws<InvalidOperationException>(() =>
            KernelCosts.Of(new KernelCall("mezo_not_a_kernel", LaunchShape.Striding(1), [Pointer(1)])));
        Assert.That(unknown!.Message, Does.Contain("mezo_not_a_kernel").And.Contain("KernelCosts.cs"));

        var changed = Assert.Throws<InvalidOperationException>(() =>
            KernelCosts.Of(new KernelCall("mezo_add", LaunchShape.Striding(1), [Pointer(1), Pointer(2), I64(1)])));
        Assert.That(changed!.Message, Does.Contain("mezo_add").And.Contain("(ppl)").And.Contain("(ppil)"));
    }

    [Test]
    public void TheRooflineIsTheSlowerOfMovingTheBytesAndComputingTheFlops()
    {
        var gpu = GpuSpec.H100;
        var memoryBound = new WorkCost("", 3_350_000, 0, 1e6, ComputePipe.Fp32); // 1 µs of bytes, 1e6 / 67e12 s of FLOPs
        var computeBound = new WorkCost("", 0, 0, 989.5e6, ComputePipe.HalfTensor); // 1 µs at the bf16 peak

        Assert.That(memoryBound.Seconds(gpu), Is.EqualTo(1e-6).Within(1e-15));
        Assert.That(memoryBound.MemoryBound(gpu));
        Assert.That(computeBound.Seconds(gpu), Is.EqualTo(1e-6).Within(1e-15));
        Assert.That(computeBound.MemoryBound(gpu), Is.False);
    }
}
