using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Tensors;

namespace MeZO.Verification;

public static partial class BackendParity
{
    private static IEnumerable<ParityCase> NormCases()
    {
        foreach (int width in new[] { 1, 3, 17, 129, 1000 })
            foreach (var type in new[] { DType.F32, DType.BF16 })
                foreach (bool withBias in new[] { false, true })
                {
                    string name = $"(5, {width}) {type} weight{(withBias ? " and bias" : "")}";
                    yield return new ParityCase("LayerNorm", name, (reference, candidate) =>
                    {
                        var random = new ParityRandom(width * 3 + (withBias ? 1 : 0));
                        // Rows with a large mean (10) and spread 3: the two-pass variance must not cancel.
                        var values = random.Normal(5L * width, 3).Select(v => v + 10).ToArray();
                        using var x = TensorPair.Floats(reference, candidate, values, DType.F32, "x", 5, width);
                        using var weight = TensorPair.Floats(reference, candidate, random.Normal(width).Select(v => 1 + 0.1f * v).ToArray(), type, "weight", width);
                        using var bias = withBias ? TensorPair.Floats(reference, candidate, random.Normal(width, 0.1), type, "bias", width) : null;
                        using var output = TensorPair.Floats(reference, candidate, new float[5 * width], DType.F32, "output", 5, width);
                        foreach (var b in new[] { reference, candidate }) b.LayerNorm(x.On(b), weight.On(b), bias?.On(b), 1e-5f, output.On(b));
                        var expected = HostValues.Read(output.Reference);
                        return Compare("LayerNorm", name, expected, HostValues.Read(output.Candidate), i => NormTolerance(expected[i]));
                    });
                    if (withBias) continue;
                    string rmsName = $"(5, {width}) {(type == DType.BF16 ? DType.F16 : type)} weight";
                    var rmsType = type == DType.BF16 ? DType.F16 : type;
                    yield return new ParityCase("RmsNorm", rmsName, (reference, candidate) =>
                    {
                        var random = new ParityRandom(width * 5 + 1);
                        using var x = TensorPair.Floats(reference, candidate, random.Normal(5L * width, 2), DType.F32, "x", 5, width);
                        using var weight = TensorPair.Floats(reference, candidate, random.Normal(width).Select(v => 1 + 0.1f * v).ToArray(), rmsType, "weight", width);
                        using var output = TensorPair.Floats(reference, candidate, new float[5 * width], DType.F32, "output", 5, width);
                        foreach (var b in new[] { reference, candidate }) b.RmsNorm(x.On(b), weight.On(b), 1e-6f, output.On(b));
                        var expected = HostValues.Read(output.Reference);
                        return Compare("RmsNorm", rmsName, expected, HostValues.Read(output.Candidate), i => NormTolerance(expected[i]));
                    });
                }
    }

    /// <summary>
    /// A norm's outputs come from float32 reductions of C terms summed in another order (SIMD lanes vs warps): the
    /// statistics differ by about √C·2^-24 relative, ~2e-6 at C = 1000. 1e-5·(1 + |y|) leaves a 5× margin.
    /// </summary>
    private static double NormTolerance(float expected) => 1e-5 * (1 + Math.Abs(expected));

    private static IEnumerable<ParityCase> LinearCases(MatmulPrecision precision)
    {
        // One-sided: positive operands whose 13 low significand bits, the ones TF32 drops, are all set, so every
        // product of a truncating TF32 product is short by nearly 2·2^-10 in the same direction and nothing cancels.
        var shapes = new (int M, int K, int N, bool Transposed, DType Weight, DType? Bias, bool OneSided)[]
        {
            (1, 1, 3, false, DType.F32, null, false),
            (3, 17, 5, false, DType.BF16, DType.BF16, false),
            (17, 129, 65, true, DType.F32, DType.F32, false),
            (129, 3, 17, false, DType.F16, DType.F16, false),
            (5, 64, 64, true, DType.BF16, null, false),
            (33, 100, 130, false, DType.BF16, DType.F32, false),
            (70, 200, 3, true, DType.F16, null, false),
            (4, 96, 8, false, DType.F32, null, true),
        };
        foreach (var (m, k, n, transposed, weightType, biasType, oneSided) in shapes)
        {
            string name = $"({m}, {k})·{(transposed ? $"({k}, {n})" : $"({n}, {k})ᵀ")} {weightType}{(biasType is { } bt ? $" + {bt} bias" : "")}" +
                          (oneSided ? ", one-sided TF32 truncation" : "");
            yield return new ParityCase("Linear", name, (reference, candidate) =>
            {
                var random = new ParityRandom(m * 1000 + k * 10 + n);
                float[] Values(long count, double scale) => oneSided
                    ? random.Ints(count, -2, 2).Select(e => (float)Math.ScaleB(1 + 0x1FFF * Math.Pow(2, -23), e)).ToArray()
                    : random.Normal(count, scale);
                using var x = TensorPair.Floats(reference, candidate, Values((long)m * k, 1), DType.F32, "x", m, k);
                int[] weightShape = transposed ? [k, n] : [n, k];
                using var weight = TensorPair.Floats(reference, candidate, Values((long)n * k, 0.1), weightType, "weight", weightShape);
                using var bias = biasType is { } b16 ? TensorPair.Floats(reference, candidate, random.Normal(n), b16, "bias", n) : null;
                using var output = TensorPair.Floats(reference, candidate, new float[m * n], DType.F32, "output", m, n);
                foreach (var b in new[] { reference, candidate }) b.Linear(x.On(b), weight.On(b), transposed, bias?.On(b), output.On(b));

                var xs = HostValues.Read(x.Reference);
                var ws = HostValues.Read(weight.Reference);
                var bs = bias is null ? new float[n] : HostValues.Read(bias.Reference);
                double inputRounding = LinearInputRounding(precision, weightType);
                var expected = HostValues.Read(output.Reference);
                return Compare("Linear", name, expected, HostValues.Read(output.Candidate), i =>
                {
                    int row = i / n, column = i % n;
                    double magnitude = Magnitude(xs, ws, transposed, row, column, k, n);
                    // Both sides accumulate K products in float32 (error ≤ K·2^-24 of Σ|x·w| each); the candidate may
                    // also round its inputs first (see LinearInputRounding); the bias add rounds once more.
                    return (inputRounding + 2.0 * k * F32Unit) * magnitude + 2 * F32Unit * Math.Abs(bs[column]) + 1e-30;
                });
            });
        }
    }

    /// <summary>Σ_t |x[row, t]·w[column, t]|: the scale of a product's float32 rounding errors.</summary>
    private static double Magnitude(float[] x, float[] w, bool transposed, int row, int column, int k, int n)
    {
        double magnitude = 0;
        for (int t = 0; t < k; t++)
            magnitude += Math.Abs(x[row * k + t]) * Math.Abs(w[transposed ? t * n + column : column * k + t]);
        return magnitude;
    }

    /// <summary>
    /// Relative rounding of the product's inputs in the candidate's arithmetic: none in float32; with 16-bit weights
    /// x is rounded to their type (unit roundoff 2^-8 for bf16's 8-bit significand, 2^-11 for f16); float32 weights
    /// use TF32 tensor cores, which keep 11 significand bits of both operands: PTX's mma drops the other 13 (truncation,
    /// under one TF32 ulp, 2^-10, each) where cuBLAS may round to nearest (half that), so 2·2^-10 for the product.
    /// </summary>
    private static double LinearInputRounding(MatmulPrecision precision, DType weightType) =>
        precision == MatmulPrecision.Float32 ? 0 : weightType switch
        {
            DType.BF16 => Math.Pow(2, -8),
            DType.F16 => Math.Pow(2, -11),
            _ => 2 * Math.Pow(2, -10),
        };

    private static IEnumerable<ParityCase> RopeCases()
    {
        foreach (var (batch, length, heads, headDim, rotary) in new[] { (1, 1, 1, 2, 2), (2, 3, 2, 6, 4), (2, 5, 3, 64, 64), (1, 17, 2, 128, 64) })
        {
            string name = $"({batch}, {length}, {heads}, {headDim}), {rotary} rotated";
            yield return new ParityCase("Rope", name, (reference, candidate) =>
            {
                var random = new ParityRandom(headDim * 17 + length);
                var values = random.Normal((long)batch * length * heads * headDim);
                using var x = TensorPair.Floats(reference, candidate, values, DType.F32, "x", batch, length, heads, headDim);
                using var positions = TensorPair.Ints(reference, candidate, random.Ints((long)batch * length, 0, 2048), "positions", batch, length);
                var inverse = Enumerable.Range(0, rotary / 2).Select(i => (float)Math.Pow(10000, -2.0 * i / rotary)).ToArray();
                using var frequencies = TensorPair.Floats(reference, candidate, inverse, DType.F32, "inv_freq", rotary / 2);
                foreach (var b in new[] { reference, candidate }) b.Rope(x.On(b), positions.On(b), frequencies.On(b));
                int half = rotary / 2;
                return Compare("Rope", name, HostValues.Read(x.Reference), HostValues.Read(x.Candidate), i =>
                {
                    // Same angle and the same cos/sin (double, rounded once) on both sides; the pair's a·c − b·s may be
                    // fused into one fma on the GPU, which changes it by at most an ulp of its larger product.
                    int d = i % headDim, row = i - d;
                    if (d >= rotary) return 0;
                    int first = d % half;
                    return 2 * F32Unit * (Math.Abs(values[row + first]) + Math.Abs(values[row + first + half]));
                });
            });
        }
    }

    private static IEnumerable<ParityCase> ElementwiseCases()
    {
        var specials = new[] { 0f, -0f, 1e-30f, -1e-30f, 20f, -20f, 80f, -80f, 1e4f, -1e4f };
        foreach (var kind in Enum.GetValues<ActivationKind>())
            yield return new ParityCase("Activation", $"{kind} on 1031 values and extremes", (reference, candidate) =>
            {
                var values = new ParityRandom(1031).Normal(1031, 3).Concat(specials).ToArray();
                using var x = TensorPair.Floats(reference, candidate, values, DType.F32, "x", values.Length);
                foreach (var b in new[] { reference, candidate }) b.Activation(kind, x.On(b));
                var expected = HostValues.Read(x.Reference);
                return Compare("Activation", kind.ToString(), expected, HostValues.Read(x.Candidate), i => kind switch
                {
                    ActivationKind.Relu => 0,
                    // expf/tanhf differ from .NET's MathF by at most 2 ulps; tanh's absolute error reaches the result
                    // scaled by 0.5·|x| where 1 + tanh cancels (x very negative).
                    ActivationKind.Silu => 4 * F32Unit * Math.Abs(expected[i]),
                    ActivationKind.GeluTanh => 4 * F32Unit * (Math.Abs(expected[i]) + 0.5 * Math.Abs(values[i])),
                    // erf in double on both sides: the float results differ only where the doubles straddle a rounding.
                    _ => 2 * F32Unit * Math.Abs(expected[i]) + 1e-45,
                });
            });

        yield return new ParityCase("SiluMul", "(7, 129)", (reference, candidate) =>
        {
            var random = new ParityRandom(7129);
            using var gate = TensorPair.Floats(reference, candidate, random.Normal(7 * 129, 3), DType.F32, "gate", 7, 129);
            using var up = TensorPair.Floats(reference, candidate, random.Normal(7 * 129), DType.F32, "up", 7, 129);
            foreach (var b in new[] { reference, candidate }) b.SiluMul(gate.On(b), up.On(b));
            var expected = HostValues.Read(gate.Reference);
            // silu as above (4 ulps), then one exact-rounded product.
            return Compare("SiluMul", "(7, 129)", expected, HostValues.Read(gate.Candidate), i => 6 * F32Unit * Math.Abs(expected[i]));
        });

        yield return new ParityCase("Add", "(3, 1000)", (reference, candidate) =>
        {
            var random = new ParityRandom(31000);
            using var x = TensorPair.Floats(reference, candidate, random.Normal(3000), DType.F32, "x", 3, 1000);
            using var y = TensorPair.Floats(reference, candidate, random.Normal(3000), DType.F32, "y", 3, 1000);
            foreach (var b in new[] { reference, candidate }) b.Add(x.On(b), y.On(b));
            return Exact("Add", "(3, 1000)", HostValues.Read(x.Reference), HostValues.Read(x.Candidate));
        });

        yield return new ParityCase("AddScaled", "(5, 777) × 2.5", (reference, candidate) =>
        {
            var random = new ParityRandom(35777);
            using var x = TensorPair.Floats(reference, candidate, random.Normal(5 * 777), DType.F32, "x", 5, 777);
            using var y = TensorPair.Floats(reference, candidate, random.Normal(5 * 777), DType.F32, "y", 5, 777);
            foreach (var b in new[] { reference, candidate }) b.AddScaled(x.On(b), y.On(b), 2.5f);
            return Exact("AddScaled", "(5, 777) × 2.5", HostValues.Read(x.Reference), HostValues.Read(x.Candidate));
        });
    }

    private static IEnumerable<ParityCase> LogitCases()
    {
        foreach (int vocab in new[] { 1, 3, 17, 1000, 50272 })
            yield return new ParityCase("LogSoftmaxGather", $"4 rows × {vocab}", (reference, candidate) =>
            {
                var random = new ParityRandom(vocab);
                using var logits = TensorPair.Floats(reference, candidate, random.Normal(4L * vocab, 3), DType.F32, "logits", 4, vocab);
                using var targets = TensorPair.Ints(reference, candidate, random.Ints(4, 0, vocab), "targets", 4);
                using var output = TensorPair.Floats(reference, candidate, new float[4], DType.F32, "output", 4);
                foreach (var b in new[] { reference, candidate }) b.LogSoftmaxGather(logits.On(b), targets.On(b), output.On(b));
                var expected = HostValues.Read(output.Reference);
                // The softmax denominator is a float32 sum of V terms in another order (relative error ~√V·2^-24,
                // 1.3e-5 at V = 50272 in the worst rows), which the log turns into the same absolute error.
                return Compare("LogSoftmaxGather", $"4 rows × {vocab}", expected, HostValues.Read(output.Candidate),
                    i => 2e-5 + 2e-6 * Math.Abs(expected[i]));
            });

        yield return new ParityCase("LogSoftmaxGather", "a target outside the vocabulary is an error", (reference, candidate) =>
        {
            using var logits = TensorPair.Floats(reference, candidate, new float[2 * 5], DType.F32, "logits", 2, 5);
            using var targets = TensorPair.Ints(reference, candidate, [4, 5], "targets", 2);
            using var output = TensorPair.Floats(reference, candidate, new float[2], DType.F32, "output", 2);
            return BothThrow<ArgumentException>("LogSoftmaxGather", "target 5 of 5", reference, candidate,
                b => b.LogSoftmaxGather(logits.On(b), targets.On(b), output.On(b)));
        });

        foreach (var c in LogSoftmaxAccumulateCases(DType.F32)) yield return c;
        foreach (var c in ArgmaxCases(DType.F32)) yield return c;
    }

    /// <summary>
    /// The vocabulary in chunks, the state carried between them, over logits of <paramref name="type"/>: read exactly, so
    /// the float32 state's bounds hold for every dtype (the maximum and target logit are copies; the sum as
    /// LogSoftmaxGather's, relative √V·2^-24 and the rescaling).
    /// </summary>
    private static IEnumerable<ParityCase> LogSoftmaxAccumulateCases(DType type)
    {
        foreach (var (vocab, chunk) in new[] { (17, 5), (1000, 1000), (50272, 8192), (3, 1) })
        {
            string name = $"{Prefix(type)}4 rows × {vocab} in chunks of {chunk}";
            yield return new ParityCase("LogSoftmaxAccumulate", name, (reference, candidate) =>
            {
                var random = new ParityRandom(vocab + chunk + (int)type);
                var all = random.Normal(4L * vocab, 3);
                using var targets = TensorPair.Ints(reference, candidate, random.Ints(4, 0, vocab), "targets", 4);
                using var state = TensorPair.Floats(reference, candidate,
                    Enumerable.Range(0, 4).SelectMany(_ => new[] { float.NegativeInfinity, 0f, float.NaN }).ToArray(), DType.F32, "state", 4, 3);
                for (int first = 0; first < vocab; first += chunk)
                {
                    int width = Math.Min(chunk, vocab - first);
                    var part = Enumerable.Range(0, 4).SelectMany(r => all.Skip(r * vocab + first).Take(width)).ToArray();
                    using var logits = TensorPair.Floats(reference, candidate, part, type, "logits", 4, width);
                    foreach (var b in new[] { reference, candidate }) b.LogSoftmaxAccumulate(logits.On(b), targets.On(b), first, state.On(b));
                }
                var expected = HostValues.Read(state.Reference);
                return Compare("LogSoftmaxAccumulate", name, expected, HostValues.Read(state.Candidate), i => i % 3 == 1 ? 2e-5 * Math.Abs(expected[i]) : 0);
            });
        }
    }

    /// <summary>
    /// Rows with ties, −∞ and NaN over logits of <paramref name="type"/> (values rounded to 16 bits tie far more often
    /// than float32 ones): the lowest index wins a tie, and a non-finite row gives −1.
    /// </summary>
    private static IEnumerable<ParityCase> ArgmaxCases(DType type)
    {
        foreach (int vocab in new[] { 1, 17, 1000, 50272 })
        {
            string name = $"{Prefix(type)}6 rows × {vocab} with ties, -inf and NaN";
            yield return new ParityCase("Argmax", name, (reference, candidate) =>
            {
                var values = new ParityRandom(vocab + 5 + (int)type).Normal(6L * vocab);
                if (vocab > 3)
                {
                    values[vocab - 1] = values[2] = 100; // row 0: a tie, the lower index wins
                    Array.Fill(values, float.NegativeInfinity, vocab, vocab); // row 1: all -inf → -1 (non-finite)
                    values[2 * vocab] = float.NaN; // row 2: a NaN first → -1
                    values[3 * vocab + 1] = float.NaN; // row 3: a later NaN → -1 too
                    values[4 * vocab + vocab / 2] = values[4 * vocab + vocab / 3] = 7; // row 4: tie in the middle
                }
                using var logits = TensorPair.Floats(reference, candidate, values, type, "logits", 6, vocab);
                using var output = TensorPair.Ints(reference, candidate, new int[6], "output", 6);
                foreach (var b in new[] { reference, candidate }) b.Argmax(logits.On(b), output.On(b));
                return ExactInts("Argmax", name, TensorPair.ReadInts(output.Reference), TensorPair.ReadInts(output.Candidate));
            });
        }
    }

    /// <summary>A case name's dtype, for the cases written once for every activation dtype; float32's names have none.</summary>
    private static string Prefix(DType type) => type == DType.F32 ? "" : $"{type} ";
}
