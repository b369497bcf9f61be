using MeZO.Engine.Backends.Cpu.MatMul;
using MeZO.Engine.Mezo;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>
/// The linear layer output(M,N) = x(M,K)·Wᵀ + bias on the CPU — the engine's hot spot. Few rows (decoding) stream the
/// weight once (<see cref="StreamingProduct"/>); everything else runs the packed, cache-blocked product
/// (<see cref="PackedGemm"/>). Which path runs depends on the shape alone, and neither depends on thread timing, so
/// equal inputs give bit-identical outputs (MeZO's L+ and L− see the same arithmetic).
/// </summary>
internal static unsafe class CpuMatMul
{
    /// <summary>Bias converted to float32 when stored as F16/BF16; per calling thread and stream.</summary>
    [ThreadStatic] private static PackBuffer? t_bias, t_secondBias;

    /// <summary>Shapes are validated by <see cref="OpContracts.Linear"/>: x and output F32, weight (N,K) or, when
    /// <paramref name="weightTransposed"/>, (K,N), bias (N).</summary>
    public static void Linear(Tensor x, Tensor weight, bool weightTransposed, Tensor? bias, Tensor output) =>
        Linear(x, weight, weightTransposed, bias, output, SimdLevels.Best);

    /// <summary>As <see cref="Linear(Tensor, Tensor, bool, Tensor?, Tensor)"/>, on a named code path (tests cover both).</summary>
    internal static void Linear(Tensor x, Tensor weight, bool weightTransposed, Tensor? bias, Tensor output, SimdLevel simd)
    {
        int k = x.Shape[-1];
        int n = output.Shape[-1];
        if (n == 0) return;
        int m = checked((int)x.Shape.Rows);
        if (m == 0) return;
        var w = new WeightMatrix((void*)weight.Address, weight.DType, weightTransposed, n, k);
        float* a = (float*)x.Address, c = (float*)output.Address;
        float* b = bias is null ? null : Float32Bias(bias, n);
        if (k == 0)
        {
            BiasOnly(c, m, n, b);
        }
        else if (simd == SimdLevel.Avx512 && m <= GemmBlocking.StreamingMaxRows)
        {
            StreamingProduct.Run(a, m, w, b, c);
        }
        else
        {
            PackedGemm.Run(a, m, w, b, c, simd);
        }
    }

    /// <summary>
    /// MeZO's perturbed product for one or two streams (validated by <see cref="OpContracts.PerturbedLinear"/>, inputs
    /// of one shape): always the packed product, which adds z to each weight panel as it packs it — even for few rows,
    /// where streaming would read the weight without a packing step to hide z's generation in.
    /// </summary>
    /// <param name="rounding">
    /// the dtype θ ± εz is rounded to before the product (the weight's, when the activations share it), or F32
    /// </param>
    public static void PerturbedLinear(Tensor weight, bool weightTransposed, TensorNoise noise, ReadOnlySpan<float> scales,
        ReadOnlySpan<Tensor> inputs, ReadOnlySpan<Tensor?> biases, ReadOnlySpan<Tensor> outputs, DType rounding = DType.F32)
    {
        int k = inputs[0].Shape[-1];
        int n = outputs[0].Shape[-1];
        int m = checked((int)inputs[0].Shape.Rows);
        if (n == 0 || m == 0) return;
        Span<nint> a = stackalloc nint[inputs.Length], b = stackalloc nint[inputs.Length], c = stackalloc nint[inputs.Length];
        for (int s = 0; s < inputs.Length; s++)
        {
            a[s] = inputs[s].Address;
            c[s] = outputs[s].Address;
            b[s] = biases[s] is { } bias ? (nint)Float32Bias(bias, n, s) : 0;
            if (k == 0) BiasOnly((float*)c[s], m, n, (float*)b[s]);
        }
        if (k == 0) return;
        var w = new WeightMatrix((void*)weight.Address, weight.DType, weightTransposed, n, k);
        PackedGemm.RunPerturbed(a, m, w, noise.Seed, noise.FirstIndex, scales, b, c, SimdLevels.Best, rounding);
    }

    /// <summary>A product over K = 0: each output row is the bias, or zeros.</summary>
    private static void BiasOnly(float* c, int m, int n, float* bias)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                c[(long)i * n + j] = bias == null ? 0f : bias[j];
    }

    private static float* Float32Bias(Tensor bias, int n, int stream = 0)
    {
        if (bias.DType == DType.F32) return (float*)bias.Address;
        float* converted = (stream == 0 ? t_bias ??= new PackBuffer() : t_secondBias ??= new PackBuffer()).Get(n);
        CpuConvert.Load(bias.Address, bias.DType, 0, new Span<float>(converted, n));
        return converted;
    }
}
