using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Mezo;
using MeZO.Engine.Tensors;

namespace MeZO.Verification;

/// <summary>
/// Checks of what only a real GPU has: CUDA graphs and the driver's memory. `mezo verify --backend cuda` runs them
/// (the GPU machine has no .NET SDK to run the Gpu test category), and so do the Gpu tests.
/// </summary>
public static class GpuOnlyChecks
{
    /// <summary>Every check; one that throws is a failed result, not an abort.</summary>
    public static IReadOnlyList<ParityResult> RunAll(CudaBackend gpu)
    {
        var checks = new (string Operation, Func<CudaBackend, ParityResult> Run)[]
        {
            ("CudaGraph", GraphReplay), ("CudaGraph", CaptureRefusesCopies), ("MemoryReport", MemoryAccounting),
        };
        return checks.Select(c =>
        {
            try
            {
                return c.Run(gpu);
            }
            catch (Exception e)
            {
                return new ParityResult(c.Operation, c.Run.Method.Name, false, double.NaN, 0, $"{e.GetType().Name}: {e.Message}");
            }
        }).ToArray();
    }

    /// <summary>A captured sequence of ops replayed gives exactly what running the same ops directly gives.</summary>
    public static ParityResult GraphReplay(CudaBackend gpu)
    {
        const int n = 1000;
        var values = Enumerable.Range(0, n).Select(i => MathF.Sin(i) * 3).ToArray();
        using var direct = gpu.Allocate(new TensorShape(n), DType.F32, MemoryCategory.Activations, "direct");
        using var replayed = gpu.Allocate(new TensorShape(n), DType.F32, MemoryCategory.Activations, "replayed");
        using var y = gpu.Allocate(new TensorShape(n), DType.F32, MemoryCategory.Activations, "y");
        foreach (var t in new[] { direct, replayed, y }) gpu.Upload<float>(t, values);
        void Work(Tensor x)
        {
            gpu.Activation(ActivationKind.Silu, x);
            gpu.Add(x, y);
            gpu.MezoUpdate(x, new TensorNoise(99, 3), new UpdateFactors(0.5f, 0.25f));
        }
        Work(direct);
        Work(direct);
        Work(replayed); // kernels loaded before the capture
        using (var graph = gpu.Capture(() => Work(replayed))) graph.Launch();
        var expected = new float[n];
        var actual = new float[n];
        gpu.Download<float>(direct, expected);
        gpu.Download<float>(replayed, actual);
        return BackendParity.Exact("CudaGraph", "three ops captured and replayed = run directly", expected, actual);
    }

    /// <summary>An upload inside a capture is refused with an InvalidOperationException, and the stream works afterwards.</summary>
    public static ParityResult CaptureRefusesCopies(CudaBackend gpu)
    {
        using var t = gpu.Allocate(new TensorShape(4), DType.F32, MemoryCategory.Activations, "t");
        string outcome;
        try
        {
            gpu.Capture(() => gpu.Upload<float>(t, [1, 2, 3, 4])).Dispose();
            outcome = "no error";
        }
        catch (InvalidOperationException)
        {
            outcome = "refused";
        }
        gpu.Upload<float>(t, [1, 2, 3, 4]);
        var back = new float[4];
        gpu.Download<float>(t, back);
        bool passed = outcome == "refused" && back.SequenceEqual([1f, 2, 3, 4]);
        return new ParityResult("CudaGraph", "an upload during capture is refused, the stream stays usable", passed, 0, 0,
            passed ? "" : $"capture: {outcome}, read back {string.Join(", ", back)}");
    }

    /// <summary>The backend's report counts a device allocation in its category while it lives, and the driver agrees.</summary>
    public static ParityResult MemoryAccounting(CudaBackend gpu)
    {
        const long bytes = 64L << 20;
        long before = gpu.Memory.Current(MemoryCategory.Weights);
        long freeBefore = gpu.DeviceMemory.Free;
        long during, freeDuring;
        using (gpu.Allocate(new TensorShape((int)(bytes / 2)), DType.BF16, MemoryCategory.Weights, "w"))
        {
            during = gpu.Memory.Current(MemoryCategory.Weights) - before;
            freeDuring = gpu.DeviceMemory.Free;
        }
        long after = gpu.Memory.Current(MemoryCategory.Weights) - before;
        // The driver hands out memory in pages (2 MiB): what it reports as used grows by the allocation, give or take one.
        bool driverAgrees = freeBefore - freeDuring >= bytes - (2L << 20);
        bool passed = during == bytes && after == 0 && driverAgrees;
        return new ParityResult("MemoryReport", "a 64 MiB weight allocation counted while it lives", passed, 0, 0,
            passed ? "" : $"counted {during} bytes, {after} after release; driver's free memory fell by {freeBefore - freeDuring}");
    }
}
