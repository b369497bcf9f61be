using System.Runtime.InteropServices;
using MeZO.Engine.Backends.Cuda.Runtime;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>Backprop's updates and the gradient norm (optimizer.cu), the twins of the CPU's CpuOptimizer.</summary>
internal static class CudaOptimizer
{
    /// <summary>Elements per block of the squared-norm reduction (one double partial each).</summary>
    private const long Chunk = 16384;

    public static double SumOfSquares(CudaBackend backend, Tensor t)
    {
        long n = t.ElementCount;
        if (n == 0) return 0;
        long blocks = (n + Chunk - 1) / Chunk;
        nint partials = backend.GradientScratch.Reserve(backend.Capturing, blocks * sizeof(double), 0).First;
        backend.Launch(KernelCatalog.Optimizer, "mezo_sum_of_squares", new LaunchShape(new Dim3((uint)blocks), new Dim3(LaunchShape.Threads)),
            Pointer(t.Address), Pointer(partials), I64(Chunk), I64(n));
        var host = new double[blocks];
        backend.Runtime.Download(partials, MemoryMarshal.AsBytes(host.AsSpan()));
        double sum = 0;
        foreach (double p in host) sum += p;
        return sum;
    }

    public static void Widen(CudaBackend backend, Tensor parameter, Tensor master)
    {
        long n = parameter.ElementCount;
        if (n == 0) return;
        backend.Launch(KernelCatalog.Optimizer, "mezo_widen", LaunchShape.Striding(n), Pointer(parameter.Address), I32((int)parameter.DType),
            Pointer(master.Address), I64(n));
    }

    public static void Scale(CudaBackend backend, Tensor t, float factor)
    {
        long n = t.ElementCount;
        if (n == 0) return;
        backend.Launch(KernelCatalog.Optimizer, "mezo_scale", LaunchShape.Striding(n), Pointer(t.Address), F32(factor), I64(n));
    }

    public static void Sgd(CudaBackend backend, Tensor parameter, Tensor? master, Tensor grad, float learningRate, float weightDecay)
    {
        long n = parameter.ElementCount;
        if (n == 0) return;
        var (theta, stored, dtype) = Operands(parameter, master);
        backend.Launch(KernelCatalog.Optimizer, "mezo_sgd_update", LaunchShape.Striding(n), Pointer(theta), Pointer(grad.Address), Pointer(stored),
            I32(dtype), F32(learningRate), F32(weightDecay), I64(n));
    }

    public static void AdamW(CudaBackend backend, Tensor parameter, Tensor? master, Tensor grad, Tensor m, Tensor v, AdamWFactors f)
    {
        long n = parameter.ElementCount;
        if (n == 0) return;
        var (theta, stored, dtype) = Operands(parameter, master);
        backend.Launch(KernelCatalog.Optimizer, "mezo_adamw_update", LaunchShape.Striding(n), Pointer(theta), Pointer(grad.Address),
            Pointer(m.Address), Pointer(v.Address), Pointer(stored), I32(dtype), F32(f.Decay), F32(f.Beta1), F32(f.OneMinusBeta1), F32(f.Beta2),
            F32(f.OneMinusBeta2), F32(f.Eps), F32(f.StepSize), F32(f.BiasCorrection2Sqrt), I64(n));
    }

    /// <summary>What takes the step (the master, or a float32 parameter), and where a 16-bit parameter's rounded copy goes.</summary>
    private static (nint Theta, nint Stored, int DType) Operands(Tensor parameter, Tensor? master) =>
        master is null ? (parameter.Address, 0, CudaNorms.NoTensor) : (master.Address, parameter.Address, (int)parameter.DType);
}
