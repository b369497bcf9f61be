using MeZO.Engine.Cuda.Compilation;
using MeZO.Engine.Cuda.Runtime;
using MeZO.Engine.Tensors;
using static MeZO.Engine.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Cuda.Ops;

/// <summary>
/// The MeZO passes on the GPU (Kernels/perturbation.cu): one thread per Philox block of four elements, z regenerated
/// from (seed, global index), one read and one write per weight. With <see cref="NoiseArithmetic.Exact"/> the result
/// is bit-identical to the CPU backend's.
/// </summary>
internal static class CudaPerturbation
{
    /// <summary>Enough blocks per SM to hide memory latency; the grid-stride loop covers the rest.</summary>
    private const int BlocksPerMultiprocessor = 32;

    public static void Perturb(CudaBackend backend, Tensor weight, ulong seed, ulong firstIndex, float scale)
    {
        long n = weight.ElementCount;
        if (n == 0) return;
        backend.Launch(KernelCatalog.Perturbation, KernelName(update: false, weight.DType, backend.Options.Noise),
            Shape(backend, firstIndex, n), Pointer(weight.Address), U64((ulong)n), U64(firstIndex), U64(seed), F32(scale),
            I32(Vectorized(weight, firstIndex) ? 1 : 0));
    }

    public static void PerturbUpdate(CudaBackend backend, Tensor weight, ulong seed, ulong firstIndex, float eps,
        float learningRate, float weightDecay, float projectedGradient)
    {
        long n = weight.ElementCount;
        if (n == 0) return;
        // The two per-call factors in float32, as CpuPerturbation computes them.
        float decay = 1f - learningRate * weightDecay;
        float step = learningRate * projectedGradient;
        backend.Launch(KernelCatalog.Perturbation, KernelName(update: true, weight.DType, backend.Options.Noise),
            Shape(backend, firstIndex, n), Pointer(weight.Address), U64((ulong)n), U64(firstIndex), U64(seed), F32(eps),
            F32(decay), F32(step), I32(Vectorized(weight, firstIndex) ? 1 : 0));
    }

    /// <summary>Philox blocks touched by global indices [first, first + n): the thread count needed.</summary>
    public static ulong BlockCount(ulong first, long n) => ((first + (ulong)n - 1) >> 2) - (first >> 2) + 1;

    /// <summary>
    /// Whether every whole block's four elements are aligned for one vector access: the first whole block starts
    /// (4 - first % 4) % 4 elements in, and all others follow at multiples of four.
    /// </summary>
    public static bool Vectorized(Tensor weight, ulong firstIndex)
    {
        int size = weight.DType.SizeOf();
        ulong head = (4 - firstIndex % 4) % 4;
        return ((ulong)weight.Address + head * (ulong)size) % (ulong)(4 * size) == 0;
    }

    private static LaunchShape Shape(CudaBackend backend, ulong first, long n)
    {
        ulong threads = BlockCount(first, n);
        ulong blocks = Math.Min((threads + LaunchShape.Threads - 1) / LaunchShape.Threads,
            (ulong)(backend.Runtime.MultiprocessorCount * BlocksPerMultiprocessor));
        return new LaunchShape(new Dim3((uint)Math.Max(blocks, 1)), new Dim3(LaunchShape.Threads));
    }

    /// <summary>The kernel for a pass, dtype and arithmetic (constant strings: nothing allocated per call).</summary>
    private static string KernelName(bool update, DType type, NoiseArithmetic noise) => (update, type, noise) switch
    {
        (false, DType.F32, NoiseArithmetic.Exact) => "mezo_perturb_f32_exact",
        (false, DType.F16, NoiseArithmetic.Exact) => "mezo_perturb_f16_exact",
        (false, DType.BF16, NoiseArithmetic.Exact) => "mezo_perturb_bf16_exact",
        (false, DType.F32, NoiseArithmetic.Fast) => "mezo_perturb_f32_fast",
        (false, DType.F16, NoiseArithmetic.Fast) => "mezo_perturb_f16_fast",
        (false, DType.BF16, NoiseArithmetic.Fast) => "mezo_perturb_bf16_fast",
        (true, DType.F32, NoiseArithmetic.Exact) => "mezo_perturb_update_f32_exact",
        (true, DType.F16, NoiseArithmetic.Exact) => "mezo_perturb_update_f16_exact",
        (true, DType.BF16, NoiseArithmetic.Exact) => "mezo_perturb_update_bf16_exact",
        (true, DType.F32, NoiseArithmetic.Fast) => "mezo_perturb_update_f32_fast",
        (true, DType.F16, NoiseArithmetic.Fast) => "mezo_perturb_update_f16_fast",
        (true, DType.BF16, NoiseArithmetic.Fast) => "mezo_perturb_update_bf16_fast",
        _ => throw new ArgumentException($"the perturbation kernels take F32, F16 or BF16 weights, not {type}"),
    };
}
