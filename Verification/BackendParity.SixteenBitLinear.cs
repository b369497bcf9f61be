using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Mezo;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;

namespace MeZO.Verification;

public static partial class BackendParity
{
    /// <summary>The dtype of a 16-bit case's weight or bias, relative to its activations.</summary>
    private enum SixteenBitOperand
    {
        /// <summary>The activations' own type (a bf16 model computing in bf16).</summary>
        Activation,
        /// <summary>Float32: a LoRA factor, a perturbed bias in scratch.</summary>
        Float32,
        /// <summary>The other 16-bit type (bf16 against f16 activations).</summary>
        OtherSixteenBit,
    }

    private static DType Resolve(SixteenBitOperand operand, DType activations) => operand switch
    {
        SixteenBitOperand.Activation => activations,
        SixteenBitOperand.Float32 => DType.F32,
        _ => activations == DType.BF16 ? DType.F16 : DType.BF16,
    };

    /// <summary>
    /// Linear and PerturbedLinear on BF16 and F16 activations: x and the output 16-bit, weights of their type, float32
    /// (LoRA) or the other 16-bit type, transposed (GPT-2's Conv1D), biases absent, float32 or 16-bit; M of 1, 3, 17,
    /// 129; K and N off every tile (K of 3 also meets the emulated cuBLASLt's refusal, so the kernel fallback runs).
    /// </summary>
    private static IEnumerable<ParityCase> SixteenBitLinearCases(CudaBackendOptions settings)
    {
        const SixteenBitOperand same = SixteenBitOperand.Activation, f32 = SixteenBitOperand.Float32, other = SixteenBitOperand.OtherSixteenBit;
        var linears = new (int M, int K, int N, bool Transposed, SixteenBitOperand Weight, SixteenBitOperand? Bias)[]
        {
            (1, 5, 3, false, same, null),
            (3, 17, 5, false, same, f32),
            (17, 129, 65, true, same, same),
            (129, 3, 17, false, same, f32),
            (9, 40, 24, false, same, other),
            (33, 100, 130, false, f32, f32),
            (17, 70, 24, true, f32, null),
            (5, 40, 9, false, other, same),
        };
        foreach (var activations in new[] { DType.BF16, DType.F16 })
            foreach (var (m, k, n, transposed, weightRole, biasRole) in linears)
            {
                var weightType = Resolve(weightRole, activations);
                DType? biasType = biasRole is { } role ? Resolve(role, activations) : null;
                string name = $"{activations} ({m}, {k})·{(transposed ? $"({k}, {n})" : $"({n}, {k})ᵀ")} {weightType}" +
                              (biasType is { } bt ? $" + {bt} bias" : "");
                yield return new ParityCase("Linear", name, (reference, candidate) =>
                {
                    var random = new ParityRandom(m * 1000 + k * 10 + n + (int)activations);
                    using var x = TensorPair.Floats(reference, candidate, random.Normal((long)m * k), activations, "x", m, k);
                    int[] weightShape = transposed ? [k, n] : [n, k];
                    using var weight = TensorPair.Floats(reference, candidate, random.Normal((long)n * k, 0.1), weightType, "weight", weightShape);
                    using var bias = biasType is { } b16 ? TensorPair.Floats(reference, candidate, random.Normal(n), b16, "bias", n) : null;
                    using var output = TensorPair.Floats(reference, candidate, new float[m * n], activations, "output", m, n);
                    foreach (var b in new[] { reference, candidate }) b.Linear(x.On(b), weight.On(b), transposed, bias?.On(b), output.On(b));

                    var xs = HostValues.Read(x.Reference);
                    var ws = HostValues.Read(weight.Reference);
                    var bs = bias is null ? new float[n] : HostValues.Read(bias.Reference);
                    var expected = HostValues.Read(output.Reference);
                    return Compare("Linear", name, expected, HostValues.Read(output.Candidate), i => SixteenBitLinearTolerance(
                        activations, expected[i], k, Magnitude(xs, ws, transposed, i / n, i % n, k, n), bs[i % n], 0));
                });
            }

        double zError = NoiseTolerance(settings.Noise);
        var perturbed = new (int M, int K, int N, bool Transposed, SixteenBitOperand Weight, int Streams, SixteenBitOperand Bias)[]
        {
            (1, 5, 3, false, same, 1, f32),
            (17, 129, 65, true, same, 2, f32),
            (129, 3, 17, false, f32, 2, f32),
            (33, 100, 130, false, same, 2, same),
        };
        foreach (var activations in new[] { DType.BF16, DType.F16 })
            foreach (var (m, k, n, transposed, weightRole, streams, biasRole) in perturbed)
            {
                var weightType = Resolve(weightRole, activations);
                var biasType = Resolve(biasRole, activations);
                string name = $"{activations} ({m}, {k})·{(transposed ? $"({k}, {n})" : $"({n}, {k})ᵀ")} {weightType}, " +
                              $"{streams} stream{(streams > 1 ? "s" : "")}, {biasType} biases";
                // As Linear, plus z's error in the perturbed weight (PerturbedLinear's own margin). A weight of the
                // activations' type is rounded to it on both sides after the perturbation (IBackend.PerturbedLinear): the
                // same bits with exact z, while fast z's error may move an element to the neighbouring 16-bit value.
                bool rounded = weightType == activations && zError > 0;
                yield return PerturbedLinearCase(name, m, k, n, transposed, weightType, activations, streams, biasType,
                    m * 1000 + k * 10 + n + streams + (int)activations,
                    (expected, magnitude, bias, scale) => SixteenBitLinearTolerance(activations, expected, k, magnitude, bias,
                        Math.Abs(scale) * zError * 10 * magnitude + (rounded ? Ulp(activations, magnitude) : 0)));
            }
    }

    /// <summary>
    /// A 16-bit output is the float32 x·wᵀ + b rounded once. Both sides read the 16-bit inputs exactly and accumulate K
    /// products in float32, in different orders (SIMD lanes against tensor-core or tile order): each sum is within
    /// K·2^-24·Σ|x·w| of the exact one, so the two within twice that, and the bias add rounds once more (2^-24·|b| each).
    /// Two float32 values that close may still round to neighbouring 16-bit values, so one ulp of the output's type at
    /// |value| on top. <paramref name="extra"/> is a case's own term (z's error in a perturbed weight).
    /// </summary>
    private static double SixteenBitLinearTolerance(DType type, float expected, int k, double magnitude, float bias, double extra) =>
        Ulp(type, expected) + 2.0 * k * F32Unit * magnitude + 2 * F32Unit * Math.Abs(bias) + extra;
}
