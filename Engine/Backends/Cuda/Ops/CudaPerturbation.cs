using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Mezo;
using MeZO.Engine.Tensors;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>
/// MeZO on the GPU (Kernels/perturbation.cu): the perturbed reads of a weight (a float32 copy, gathered embedding rows,
/// the float32 W + scale·z a perturbed product multiplies) and the update, the only pass that writes weights. z is
/// regenerated from (seed, global index), one thread per Philox block of four elements. With
/// <see cref="NoiseArithmetic.Exact"/> every result is bit-identical to the CPU backend's, stochastic rounding included.
/// </summary>
internal static class CudaPerturbation
{
    /// <summary>Enough blocks per SM to hide memory latency; the grid-stride loop covers the rest.</summary>
    private const int BlocksPerMultiprocessor = 32;

    public static void Copy(CudaBackend backend, Tensor weight, TensorNoise noise, float scale, Tensor destination) =>
        Copy(backend, weight, noise, scale, destination.Address);

    public static void Embedding(CudaBackend backend, Tensor table, TensorNoise noise, float scale, Tensor ids, Tensor output,
        bool accumulate)
    {
        long rows = ids.ElementCount;
        if (rows == 0) return;
        int width = table.Shape[1];
        string kernel = backend.Options.Noise == NoiseArithmetic.Exact ? "mezo_perturbed_embedding_exact" : "mezo_perturbed_embedding_fast";
        // A row of C elements touches at most C/4 + 2 Philox blocks, one thread each.
        backend.Launch(KernelCatalog.Perturbation, kernel, LaunchShape.PerRow(rows, width / 4 + 2),
            Pointer(table.Address), I32((int)table.DType), Pointer(ids.Address), Pointer(output.Address), I32((int)output.DType),
            I32(width), I32(table.Shape[0]), U64(noise.FirstIndex), U64(noise.Seed), F32(scale), I32(accumulate ? 1 : 0),
            Pointer(backend.FaultAddress));
    }

    /// <summary>
    /// outputs[s] = inputs[s]·(W + scales[s]·z)ᵀ + biases[s]: W + scales[s]·z is written into the backend's
    /// <see cref="CudaBackend.PerturbedWeight"/> scratch, which the ordinary Linear path then multiplies. With
    /// activations in the weight's 16-bit dtype both streams' copies are written in that dtype by one pass (z made once;
    /// the scratch holds the two, as many bytes as one float32 copy), so each product multiplies 16-bit operands at the
    /// tensor cores' 16-bit rate; otherwise one float32 copy, reused by each stream in turn. Either copy rounds as the
    /// CPU's packing does, so only the products' own arithmetic differs from the CPU's.
    /// </summary>
    /// <param name="epilogues">none, or each stream's (CudaLinear fuses what cuBLASLt can)</param>
    public static void Linear(CudaBackend backend, Tensor weight, bool transposed, TensorNoise noise, ReadOnlySpan<float> scales,
        ReadOnlySpan<Tensor> inputs, ReadOnlySpan<Tensor?> biases, ReadOnlySpan<Tensor> outputs, ReadOnlySpan<LinearEpilogue> epilogues)
    {
        if (inputs[0].Shape.Rows == 0 || outputs[0].Shape[-1] == 0) return;
        if (weight.ElementCount == 0)
        {
            // K = 0: no weight to perturb; each output is its bias broadcast.
            for (int s = 0; s < inputs.Length; s++) CudaLinear.Run(backend, inputs[s], weight, transposed, biases[s], outputs[s], StreamEpilogue(epilogues, s));
            return;
        }
        if (OpContracts.PerturbedWeightRounding(weight, inputs[0]) != DType.F32)
        {
            bool two = inputs.Length > 1;
            var (plus, minus) = backend.PerturbedWeight.Reserve(backend.Capturing, weight.ByteCount, two ? weight.ByteCount : 0);
            Pair(backend, weight, noise, scales, plus, two ? minus : 0);
            for (int s = 0; s < inputs.Length; s++)
                CudaLinear.Run(backend, inputs[s], s == 0 ? plus : minus, weight.DType, transposed, biases[s], outputs[s], StreamEpilogue(epilogues, s));
            return;
        }
        nint perturbed = backend.PerturbedWeight.Reserve(backend.Capturing, weight.ElementCount * sizeof(float), 0).First;
        for (int s = 0; s < inputs.Length; s++)
        {
            Copy(backend, weight, noise, scales[s], perturbed);
            CudaLinear.Run(backend, inputs[s], perturbed, DType.F32, transposed, biases[s], outputs[s], StreamEpilogue(epilogues, s));
        }
    }

    private static LinearEpilogue StreamEpilogue(ReadOnlySpan<LinearEpilogue> epilogues, int s) => epilogues.Length == 0 ? default : epilogues[s];

    /// <param name="subject">the weight's number in the backend's <see cref="FaultSubjects"/>: an overflow names it</param>
    public static void Update(CudaBackend backend, Tensor weight, TensorNoise noise, UpdateFactors factors, int subject)
    {
        long n = weight.ElementCount;
        if (n == 0) return;
        backend.Launch(KernelCatalog.Perturbation, UpdateKernel(weight.DType, backend.Options.Noise), Shape(backend, noise.FirstIndex, n),
            Pointer(weight.Address), U64((ulong)n), U64(noise.FirstIndex), U64(noise.Seed), F32(factors.Decay), F32(factors.Step),
            I32(Vectorized(weight.Address, weight.DType, noise.FirstIndex) ? 1 : 0), I32(subject), Pointer(backend.FaultAddress));
    }

    /// <summary>Philox blocks touched by global indices [first, first + n): the thread count needed.</summary>
    private static ulong BlockCount(ulong first, long n) => ((first + (ulong)n - 1) >> 2) - (first >> 2) + 1;

    /// <summary>
    /// Whether every whole block's four elements at <paramref name="address"/> are aligned for one vector access: the
    /// first whole block starts (4 − first % 4) % 4 elements in, and all others follow at multiples of four.
    /// </summary>
    private static bool Vectorized(nint address, DType type, ulong firstIndex)
    {
        int size = type.SizeOf();
        ulong head = (4 - firstIndex % 4) % 4;
        return ((ulong)address + head * (ulong)size) % (ulong)(4 * size) == 0;
    }

    private static void Copy(CudaBackend backend, Tensor weight, TensorNoise noise, float scale, nint destination)
    {
        long n = weight.ElementCount;
        if (n == 0) return;
        bool vectorized = Vectorized(weight.Address, weight.DType, noise.FirstIndex) &&
                          Vectorized(destination, DType.F32, noise.FirstIndex);
        backend.Launch(KernelCatalog.Perturbation, CopyKernel(weight.DType, backend.Options.Noise), Shape(backend, noise.FirstIndex, n),
            Pointer(weight.Address), Pointer(destination), U64((ulong)n), U64(noise.FirstIndex), U64(noise.Seed), F32(scale),
            I32(vectorized ? 1 : 0));
    }

    /// <summary>Both streams' 16-bit W ± scale·z (minus 0 for one stream), z made once: Kernels/perturbation.cu's pair kernel.</summary>
    private static void Pair(CudaBackend backend, Tensor weight, TensorNoise noise, ReadOnlySpan<float> scales, nint plus, nint minus)
    {
        long n = weight.ElementCount;
        bool vectorized = Vectorized(weight.Address, weight.DType, noise.FirstIndex) && Vectorized(plus, weight.DType, noise.FirstIndex) &&
                          (minus == 0 || Vectorized(minus, weight.DType, noise.FirstIndex));
        bool exact = backend.Options.Noise == NoiseArithmetic.Exact;
        string kernel = (weight.DType, exact) switch
        {
            (DType.F16, true) => "mezo_perturbed_pair_f16_exact",
            (DType.BF16, true) => "mezo_perturbed_pair_bf16_exact",
            (DType.F16, false) => "mezo_perturbed_pair_f16_fast",
            (DType.BF16, false) => "mezo_perturbed_pair_bf16_fast",
            _ => throw new ArgumentException($"the perturbed pair is for F16 or BF16 weights, not {weight.DType}"),
        };
        backend.Launch(KernelCatalog.Perturbation, kernel, Shape(backend, noise.FirstIndex, n), Pointer(weight.Address), Pointer(plus),
            Pointer(minus), U64((ulong)n), U64(noise.FirstIndex), U64(noise.Seed), F32(scales[0]), F32(scales.Length > 1 ? scales[1] : 0f),
            I32(vectorized ? 1 : 0));
    }

    private static LaunchShape Shape(CudaBackend backend, ulong first, long n)
    {
        ulong threads = BlockCount(first, n);
        ulong blocks = Math.Min((threads + LaunchShape.Threads - 1) / LaunchShape.Threads,
            (ulong)(backend.Runtime.MultiprocessorCount * BlocksPerMultiprocessor));
        return new LaunchShape(new Dim3((uint)Math.Max(blocks, 1)), new Dim3(LaunchShape.Threads));
    }

    // The kernel for a dtype and z arithmetic (constant strings: nothing allocated per call).

    private static string CopyKernel(DType type, NoiseArithmetic noise) => (type, noise) switch
    {
        (DType.F32, NoiseArithmetic.Exact) => "mezo_perturbed_copy_f32_exact",
        (DType.F16, NoiseArithmetic.Exact) => "mezo_perturbed_copy_f16_exact",
        (DType.BF16, NoiseArithmetic.Exact) => "mezo_perturbed_copy_bf16_exact",
        (DType.F32, NoiseArithmetic.Fast) => "mezo_perturbed_copy_f32_fast",
        (DType.F16, NoiseArithmetic.Fast) => "mezo_perturbed_copy_f16_fast",
        (DType.BF16, NoiseArithmetic.Fast) => "mezo_perturbed_copy_bf16_fast",
        _ => throw new ArgumentException($"the perturbation kernels take F32, F16 or BF16 weights, not {type}"),
    };

    private static string UpdateKernel(DType type, NoiseArithmetic noise) => (type, noise) switch
    {
        (DType.F32, NoiseArithmetic.Exact) => "mezo_update_f32_exact",
        (DType.F16, NoiseArithmetic.Exact) => "mezo_update_f16_exact",
        (DType.BF16, NoiseArithmetic.Exact) => "mezo_update_bf16_exact",
        (DType.F32, NoiseArithmetic.Fast) => "mezo_update_f32_fast",
        (DType.F16, NoiseArithmetic.Fast) => "mezo_update_f16_fast",
        (DType.BF16, NoiseArithmetic.Fast) => "mezo_update_bf16_fast",
        _ => throw new ArgumentException($"the update kernels take F32, F16 or BF16 weights, not {type}"),
    };
}
