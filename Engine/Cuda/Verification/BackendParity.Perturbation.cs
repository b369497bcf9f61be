using MeZO.Engine.Backends;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Cuda.Verification;

public static partial class BackendParity
{
    private const ulong Seed = 0x5EED_1234_ABCD_0042ul;

    /// <summary>
    /// How far the candidate's z may be from the CPU's: 0 with exact noise (the same operations, the same bits);
    /// 1e-6 with fast noise (float32 Box–Muller; Kernels/philox.cuh, measured ≤ 5e-7 over 2^22 elements).
    /// </summary>
    internal static double NoiseTolerance(NoiseArithmetic noise) => noise == NoiseArithmetic.Exact ? 0 : 1e-6;

    private static IEnumerable<ParityCase> PerturbationCases(NoiseArithmetic noise)
    {
        double zError = NoiseTolerance(noise);
        // Lengths 1, 3, 17, 1029; first indices that start mid-block, a large one, and one past 2^34 (the counter's
        // high word); views at element offsets 1..3 of a larger buffer, so the vector path meets unaligned addresses.
        var layouts = new (int Length, ulong First, int Offset)[]
        {
            (1, 0, 0), (3, 1, 0), (17, 2, 1), (1029, 3, 2), (1029, 1_000_003, 3), (64, (1ul << 34) + 1, 0), (4096, 8, 0),
        };
        foreach (var type in FloatTypes)
            foreach (var (length, first, offset) in layouts)
                foreach (bool update in new[] { false, true })
                {
                    string operation = update ? "PerturbUpdate" : "Perturb";
                    string name = $"{type} n {length} from z index {first}, view at +{offset}";
                    yield return new ParityCase(operation, name, (reference, candidate) =>
                    {
                        var initial = new ParityRandom(length + offset).Normal(length + 8, 0.02);
                        using var arena = TensorPair.Floats(reference, candidate, initial, type, "arena", length + 8);
                        const float scale = 1e-3f, eps = 1e-3f, lr = 1e-4f, decay = 0.1f, g = 3.7f;
                        foreach (var b in new[] { reference, candidate })
                        {
                            using var w = arena.On(b).View(new TensorShape(length), offset, "w");
                            if (update) b.PerturbUpdate(w, Seed, first, eps, lr, decay, g);
                            else b.Perturb(w, Seed, first, scale);
                        }
                        var expected = TensorPair.Read(arena.Reference);
                        // The whole buffer is compared: nothing outside the view may change. A z off by zError moves a
                        // weight by |coefficient|·zError, which may also flip its rounding to the storage dtype.
                        double coefficient = update ? eps + lr * g : scale;
                        return Compare(operation, name, expected, TensorPair.Read(arena.Candidate),
                            i => zError == 0 ? 0 : coefficient * zError + Ulp(type, expected[i]));
                    });
                }

        yield return new ParityCase("Perturb", "z stream equals GaussianNoise.Fill", (reference, candidate) =>
        {
            const int length = 1029;
            const ulong first = 17;
            using var zeros = TensorPair.Floats(reference, candidate, new float[length], DType.F32, "z", length);
            candidate.Perturb(zeros.Candidate, Seed, first, 1f);
            var z = new float[length];
            GaussianNoise.Fill(Seed, first, z);
            return Compare("Perturb", "z stream = GaussianNoise.Fill (scale 1 on zeros)", z, TensorPair.Read(zeros.Candidate), _ => zError);
        });

        yield return new ParityCase("PerturbUpdate", "one MeZO step's three passes over three tensors", MezoRoundTrip);

        ParityResult MezoRoundTrip(IBackend reference, IBackend candidate)
        {
            // Three tensors laid out one after another in the z stream, as a TrainableSet orders them.
            var layout = new (DType Type, int[] Shape)[] { (DType.F32, [5, 7]), (DType.BF16, [129]), (DType.F16, [3, 3]) };
            var random = new ParityRandom(2024);
            var tensors = layout.Select(l => TensorPair.Floats(reference, candidate,
                random.Normal(l.Shape.Aggregate(1, (a, d) => a * d), 0.02), l.Type, l.Type.ToString(), l.Shape)).ToArray();
            try
            {
                const float eps = 1e-3f, lr = 1e-4f, weightDecay = 0.1f, projectedGradient = -2.5f;
                foreach (var b in new[] { reference, candidate })
                {
                    ulong first = 0;
                    var firsts = tensors.Select(t => { ulong f = first; first += (ulong)t.Reference.ElementCount; return f; }).ToArray();
                    for (int i = 0; i < tensors.Length; i++) b.Perturb(tensors[i].On(b), Seed, firsts[i], eps);
                    for (int i = 0; i < tensors.Length; i++) b.Perturb(tensors[i].On(b), Seed, firsts[i], -2 * eps);
                    for (int i = 0; i < tensors.Length; i++)
                        b.PerturbUpdate(tensors[i].On(b), Seed, firsts[i], eps, lr, i == 1 ? 0 : weightDecay, projectedGradient);
                }
                foreach (var t in tensors)
                {
                    var expected = TensorPair.Read(t.Reference);
                    var result = Compare("PerturbUpdate", "one MeZO step", expected, TensorPair.Read(t.Candidate),
                        i => zError == 0 ? 0 : (4 * eps + lr * Math.Abs(projectedGradient)) * zError + 3 * Ulp(t.Reference.DType, expected[i]));
                    if (!result.Passed) return result with { Case = $"one MeZO step, {t.Reference.DType} tensor" };
                }
                return new ParityResult("PerturbUpdate", "one MeZO step (+ε, −2ε, update) over F32, BF16, F16 tensors", true, 0,
                    zError, zError == 0 ? "bit-identical" : "");
            }
            finally
            {
                foreach (var t in tensors) t.Dispose();
            }
        }
    }
}
