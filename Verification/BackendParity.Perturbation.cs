using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Mezo;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;

namespace MeZO.Verification;

public static partial class BackendParity
{
    private const ulong Seed = 0x5EED_1234_ABCD_0042ul;

    /// <summary>
    /// How far the candidate's z may be from the CPU's: 0 with exact noise (the same operations, the same bits);
    /// 1e-6 with fast noise (float32 Box–Muller; Kernels/philox.cuh, measured ≤ 5e-7 over 2^22 elements).
    /// </summary>
    internal static double NoiseTolerance(NoiseArithmetic noise) => noise == NoiseArithmetic.Exact ? 0 : 1e-6;

    /// <summary>
    /// Lengths 1, 3, 17, 1029; first indices that start mid-block, a large one, and one past 2^34 (the counter's high
    /// word); views at element offsets 1..3 of a larger buffer, so vector paths meet unaligned addresses.
    /// </summary>
    private static readonly (int Length, ulong First, int Offset)[] NoiseLayouts =
    [
        (1, 0, 0), (3, 1, 0), (17, 2, 1), (1029, 3, 2), (1029, 1_000_003, 3), (64, (1ul << 34) + 1, 0), (4096, 8, 0),
    ];

    private static IEnumerable<ParityCase> PerturbationCases(NoiseArithmetic noise, MatmulPrecision precision)
    {
        double zError = NoiseTolerance(noise);
        foreach (var type in FloatTypes)
            foreach (var (length, first, offset) in NoiseLayouts)
            {
                string name = $"{type} n {length} from z index {first}, view at +{offset}";
                yield return new ParityCase("PerturbedCopy", name, (reference, candidate) =>
                {
                    var initial = new ParityRandom(length + offset).Normal(length + 8, 0.02);
                    using var arena = TensorPair.Floats(reference, candidate, initial, type, "arena", length + 8);
                    using var output = TensorPair.Floats(reference, candidate, new float[length], DType.F32, "output", length);
                    const float scale = -1e-3f;
                    foreach (var b in new[] { reference, candidate })
                    {
                        using var w = arena.On(b).View(new TensorShape(length), offset, "w");
                        b.PerturbedCopy(w, new TensorNoise(Seed, first), scale, output.On(b));
                    }
                    // w + scale·z rounds once to float32 after the product; a z off by zError moves it by |scale|·zError.
                    var expected = HostValues.Read(output.Reference);
                    return Compare("PerturbedCopy", name, expected, HostValues.Read(output.Candidate),
                        i => zError == 0 ? 0 : Math.Abs(scale) * zError + Ulp(DType.F32, expected[i]));
                });

                yield return new ParityCase("MezoUpdate", name, (reference, candidate) =>
                {
                    var initial = new ParityRandom(length + offset).Normal(length + 8, 0.02);
                    using var arena = TensorPair.Floats(reference, candidate, initial, type, "arena", length + 8);
                    // An update of a fraction of an ulp, so stochastic rounding decides most 16-bit elements.
                    var factors = UpdateFactors.For(1e-4, 0.1, 3.7);
                    foreach (var b in new[] { reference, candidate })
                    {
                        using var w = arena.On(b).View(new TensorShape(length), offset, "w");
                        b.MezoUpdate(w, new TensorNoise(Seed, first), factors);
                    }
                    // The whole buffer is compared: nothing outside the view may change. Exact z gives the same bits,
                    // rounding included; a z off by zError moves v by step·zError and may flip its rounding.
                    var expected = HostValues.Read(arena.Reference);
                    return Compare("MezoUpdate", name, expected, HostValues.Read(arena.Candidate),
                        i => zError == 0 ? 0 : Math.Abs(factors.Step) * zError + 2 * Ulp(type, expected[i]));
                });
            }

        yield return new ParityCase("PerturbedCopy", "z stream equals GaussianNoise.Fill", (reference, candidate) =>
        {
            const int length = 1029;
            const ulong first = 17;
            using var zeros = TensorPair.Floats(reference, candidate, new float[length], DType.F32, "zeros", length);
            using var output = TensorPair.Floats(reference, candidate, new float[length], DType.F32, "z", length);
            candidate.PerturbedCopy(zeros.Candidate, new TensorNoise(Seed, first), 1f, output.Candidate);
            var z = new float[length];
            GaussianNoise.Fill(Seed, first, z);
            return Compare("PerturbedCopy", "z stream = GaussianNoise.Fill (scale 1 on zeros)", z, HostValues.Read(output.Candidate), _ => zError);
        });

        foreach (var type in new[] { DType.BF16, DType.F16 })
            yield return new ParityCase("MezoUpdate", $"{type}: a result beyond the largest finite value is an error", (reference, candidate) =>
            {
                float near = type == DType.BF16 ? 3.38e38f : 65504f;
                using var w = TensorPair.Floats(reference, candidate, [near, 1f, -near], type, "huge", 3);
                var factors = new UpdateFactors(Decay: 1.5f, Step: 0f);
                return BothThrow<OverflowException>("MezoUpdate", $"{type} {near} × 1.5", reference, candidate,
                    b => { b.MezoUpdate(w.On(b), new TensorNoise(Seed, 0), factors); b.Synchronize(); });
            });

        foreach (var c in PerturbedEmbeddingCases(DType.F32, zError)) yield return c;

        // The last case's 16-bit biases are widened by Linear itself (into the backend's scratch, on the GPU) while the
        // perturbed weight is held: the two must not share storage.
        foreach (var (m, k, n, transposed, weightType, streams, biasType) in new (int, int, int, bool, DType, int, DType)[]
                 {
                     (1, 1, 3, false, DType.F32, 1, DType.F32), (3, 17, 5, false, DType.BF16, 2, DType.F32),
                     (17, 129, 65, true, DType.F32, 2, DType.F32), (129, 3, 17, false, DType.F16, 2, DType.F32),
                     (5, 64, 64, true, DType.BF16, 1, DType.F32), (33, 300, 130, false, DType.BF16, 2, DType.F32),
                     (9, 40, 24, false, DType.F16, 2, DType.F16),
                 })
        {
            string name = $"({m}, {k})·{(transposed ? $"({k}, {n})" : $"({n}, {k})ᵀ")} {weightType}, {streams} stream{(streams > 1 ? "s" : "")}" +
                          (biasType == DType.F32 ? "" : $", {biasType} biases");
            // As Linear (float32 sums both sides, the candidate's input rounding), plus z's error in the weight.
            yield return PerturbedLinearCase(name, m, k, n, transposed, weightType, DType.F32, streams, biasType, m * 1000 + k * 10 + n + streams,
                (_, magnitude, bias, scale) => (LinearInputRounding(precision, DType.F32) + 2.0 * k * F32Unit + Math.Abs(scale) * zError * 10)
                    * magnitude + 2 * F32Unit * Math.Abs(bias) + 1e-30);
        }
    }

    /// <summary>
    /// One PerturbedLinear case: x and the outputs of <paramref name="activations"/>, each stream's output against the
    /// reference's within <paramref name="tolerance"/>(expected, Σ|x·w| over the perturbed weight w + scale·z computed here
    /// independently, the bias, the stream's scale).
    /// </summary>
    private static ParityCase PerturbedLinearCase(string name, int m, int k, int n, bool transposed, DType weightType, DType activations,
        int streams, DType biasType, int seed, Func<float, double, float, float, double> tolerance) =>
        new("PerturbedLinear", name, (reference, candidate) =>
        {
            var random = new ParityRandom(seed);
            float[] scales = streams == 1 ? [0.05f] : [0.05f, -0.05f];
            int[] weightShape = transposed ? [k, n] : [n, k];
            using var weight = TensorPair.Floats(reference, candidate, random.Normal((long)n * k, 0.1), weightType, "weight", weightShape);
            var xs = Enumerable.Range(0, streams).Select(s => TensorPair.Floats(reference, candidate, random.Normal((long)m * k), activations, $"x{s}", m, k)).ToArray();
            var biases = Enumerable.Range(0, streams).Select(s => TensorPair.Floats(reference, candidate, random.Normal(n), biasType, $"bias{s}", n)).ToArray();
            var outputs = Enumerable.Range(0, streams).Select(s => TensorPair.Floats(reference, candidate, new float[m * n], activations, $"out{s}", m, n)).ToArray();
            try
            {
                var noise = new TensorNoise(Seed, 11);
                foreach (var b in new[] { reference, candidate })
                    b.PerturbedLinear(weight.On(b), transposed, noise, scales, xs.Select(x => x.On(b)).ToArray(),
                        biases.Select(x => (Tensor?)x.On(b)).ToArray(), outputs.Select(x => x.On(b)).ToArray());
                var ws = HostValues.Read(weight.Reference);
                var z = new float[ws.Length];
                GaussianNoise.Fill(Seed, 11, z);
                for (int s = 0; s < streams; s++)
                {
                    float scale = scales[s];
                    var perturbed = ws.Select((w, i) => w + scale * z[i]).ToArray();
                    var x = HostValues.Read(xs[s].Reference);
                    var bias = HostValues.Read(biases[s].Reference);
                    var expected = HostValues.Read(outputs[s].Reference);
                    var result = Compare("PerturbedLinear", name, expected, HostValues.Read(outputs[s].Candidate), i =>
                    {
                        int column = i % n;
                        return tolerance(expected[i], Magnitude(x, perturbed, transposed, i / n, column, k, n), bias[column], scale);
                    });
                    if (!result.Passed) return result with { Case = $"{name}, stream {s}" };
                }
                return new ParityResult("PerturbedLinear", name, true, 0, 0, "");
            }
            finally
            {
                foreach (var t in xs.Concat(biases).Concat(outputs)) t.Dispose();
            }
        });

    /// <summary>
    /// The perturbed embedding into an output of <paramref name="outputType"/>, from tables of every dtype. Exact z gives the
    /// same bits: the same float32 value, rounded once into a 16-bit output. Fast z moves the value by scale·zError, which
    /// may then flip a rounding: the value's and the sum's into float32, or the one into 16 bits.
    /// </summary>
    private static IEnumerable<ParityCase> PerturbedEmbeddingCases(DType outputType, double zError)
    {
        int roundings = outputType == DType.F32 ? 2 : 1;
        foreach (var tableType in FloatTypes)
            foreach (var (vocab, width, rows) in new[] { (17, 3, 5), (50, 129, 9) })
                foreach (bool accumulate in new[] { false, true })
                {
                    string name = $"{OutputPrefix(outputType)}{tableType} table ({vocab}, {width}), {rows} ids{(accumulate ? ", +=" : "")}";
                    yield return new ParityCase("PerturbedEmbedding", name, (reference, candidate) =>
                    {
                        var random = new ParityRandom(vocab * 131 + width + (int)outputType);
                        using var table = TensorPair.Floats(reference, candidate, random.Normal((long)vocab * width), tableType, "table", vocab, width);
                        using var ids = TensorPair.Ints(reference, candidate, random.Ints(rows, 0, vocab), "ids", rows);
                        using var output = TensorPair.Floats(reference, candidate, random.Normal((long)rows * width), outputType, "output", rows, width);
                        const float scale = 1e-2f;
                        foreach (var b in new[] { reference, candidate })
                            b.PerturbedEmbedding(table.On(b), new TensorNoise(Seed, 5), scale, ids.On(b), output.On(b), accumulate);
                        var expected = HostValues.Read(output.Reference);
                        return Compare("PerturbedEmbedding", name, expected, HostValues.Read(output.Candidate),
                            i => zError == 0 ? 0 : scale * zError + roundings * Ulp(outputType, expected[i]));
                    });
                }
    }
}
