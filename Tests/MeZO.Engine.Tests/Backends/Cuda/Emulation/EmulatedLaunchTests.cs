using MeZO.Tests.Common;
using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Backends.Cuda.Ops;
using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Tensors;
using NUnit.Framework;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Engine.Tests.Backends.Cuda.Emulation;

/// <summary>What the host emulation checks on every launch, and the Linear op's choice between cuBLASLt and a kernel.</summary>
[Category("HostKernels")]
[Category(TestSpeed.Slow)]
public class EmulatedLaunchTests
{
    [Test]
    public void ALaunchWhoseArgumentsDoNotMatchTheKernelsParametersIsRefused()
    {
        using var runtime = new EmulatedRuntime(80);
        var report = new MemoryReport();
        using var x = runtime.Allocate(4 * sizeof(float), report, MemoryCategory.Activations);
        using var y = runtime.Allocate(4 * sizeof(float), report, MemoryCategory.Activations);
        var add = runtime.Kernel(KernelCatalog.Add, "mezo_add"); // (void* x, const void* y, int dtype, mezo_i64 n)
        var shape = LaunchShape.Striding(4);
        Assert.That(() => runtime.Launch(add, shape, [Pointer(x.DangerousGetHandle()), Pointer(y.DangerousGetHandle()), I64(4)]),
            Throws.InvalidOperationException.With.Message.EqualTo(
                "add.cu:mezo_add takes (pointer, pointer, int, long long) but was launched with (pointer, pointer, long long)"));
        Assert.That(() => runtime.Launch(add, shape, [Pointer(x.DangerousGetHandle()), I64(4)]),
            Throws.InvalidOperationException.With.Message.Contains("launched with (pointer, long long)"));
        Assert.That(() => runtime.Launch(add, shape, [Pointer(x.DangerousGetHandle()), Pointer(y.DangerousGetHandle()), I32(0), I64(4)]),
            Throws.Nothing);
    }

    [Test]
    public void LinearRunsOnCublasLtWhereItHasAnAlgorithmAndOnAKernelWhereItHasNone()
    {
        var products = new EmulatedMatrixProducts(call => call.K >= 4);
        using var gpu = new CudaBackend(new EmulatedRuntime(90, products), new CudaBackendOptions(), new MemoryReport());
        foreach (int k in new[] { 8, 3 })
        {
            // Small integers: exact in bf16 and in every float32 sum, so each path must give the exact product.
            const int m = 3, n = 5;
            float[] x = Integers(m * k, 1), w = Integers(n * k, 2), b = Integers(n, 3);
            using var xs = Upload(gpu, x, DType.F32, m, k);
            using var ws = Upload(gpu, w, DType.BF16, n, k);
            using var bs = Upload(gpu, b, DType.BF16, n);
            using var output = gpu.Allocate(new TensorShape(m, n), DType.F32, MemoryCategory.Activations, "output");
            gpu.Linear(xs, ws, weightTransposed: false, bs, output);
            var actual = new float[m * n];
            gpu.Download<float>(output, actual);
            for (int r = 0; r < m; r++)
                for (int c = 0; c < n; c++)
                {
                    float expected = b[c];
                    for (int t = 0; t < k; t++) expected += x[r * k + t] * w[c * k + t];
                    Assert.That(actual[r * n + c], Is.EqualTo(expected), $"K = {k}, output ({r}, {c})");
                }
        }
        Assert.That((products.Computed, products.Refused), Is.EqualTo((1, 1)), "K = 8 on cuBLASLt, K = 3 refused and run on a kernel");
    }

    /// <summary>
    /// A bf16 Linear reaches cuBLASLt as bf16 x, W and output with the float32 bias named as such (no conversion
    /// kernel); a shape cuBLASLt refuses runs on the tensor-core kernel, and a float32 (LoRA) weight on the SIMT kernel.
    /// </summary>
    [Test]
    public void ABf16LinearConvertsNothing()
    {
        var products = new EmulatedMatrixProducts(call => call.K >= 4);
        var runtime = new EmulatedRuntime(90, products);
        using var gpu = new CudaBackend(runtime, new CudaBackendOptions(), new MemoryReport());
        foreach (var (k, weightType, kernel) in new[] { (8, DType.BF16, null), (3, DType.BF16, "mezo_gemm_mma_bf16"), (8, DType.F32, "mezo_gemm_simt") })
        {
            // Small integers: every product, sum and bias add is exact in float32 and the results exact in bf16.
            const int m = 3, n = 5;
            float[] x = Integers(m * k, 1), w = Integers(n * k, 2), b = Integers(n, 3);
            using var xs = Upload(gpu, x, DType.BF16, m, k);
            using var ws = Upload(gpu, w, weightType, n, k);
            using var bs = Upload(gpu, b, DType.F32, n);
            using var output = gpu.Allocate(new TensorShape(m, n), DType.BF16, MemoryCategory.Activations, "output");
            runtime.Launched.Clear();
            int computed = products.Computed;
            gpu.Linear(xs, ws, weightTransposed: false, bs, output);
            Assert.That(runtime.Launched, Is.EqualTo(kernel is null ? Array.Empty<string>() : new[] { kernel }), $"K = {k}, {weightType} W");
            Assert.That(products.Computed - computed, Is.EqualTo(kernel is null ? 1 : 0));
            var actual = HostValues.Read(output);
            for (int r = 0; r < m; r++)
                for (int c = 0; c < n; c++)
                {
                    float expected = b[c];
                    for (int t = 0; t < k; t++) expected += x[r * k + t] * w[c * k + t];
                    Assert.That(actual[r * n + c], Is.EqualTo(expected), $"K = {k}, {weightType} W, output ({r}, {c})");
                }
        }
    }

    private static float[] Integers(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)random.Next(-3, 4)).ToArray();
    }

    private static Tensor Upload(IBackend backend, float[] values, DType type, params int[] shape)
    {
        var t = backend.Allocate(new TensorShape(shape), type, MemoryCategory.Activations, "t");
        if (type == DType.F32) backend.Upload<float>(t, values);
        else backend.Upload<ushort>(t, values.Select(ScalarConversions.SingleToBFloat16).ToArray());
        return t;
    }
}
