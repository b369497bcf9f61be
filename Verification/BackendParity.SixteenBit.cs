using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Mezo;
using MeZO.Engine.Tensors;

namespace MeZO.Verification;

/// <summary>
/// The ops on 16-bit activations (BF16 and F16; IBackend's rounding points): each reads its operands exactly, computes
/// in float32 and rounds what it writes once, to nearest even, on both backends. Where the candidate does the same
/// float32 arithmetic in the same order the results must be the same bits. Where it orders a reduction differently
/// (norms, softmax, attention) the float32 results differ by the bound the float32 case states, and a difference that
/// straddles a 16-bit rounding boundary moves the stored value by one 16-bit ulp: those cases allow the float32 bound
/// plus one ulp of the dtype at the value's magnitude. The inputs are the 16-bit values themselves, so the float32
/// bounds are taken over what both backends read.
/// </summary>
public static partial class BackendParity
{
    private static readonly DType[] SixteenBitTypes = [DType.BF16, DType.F16];

    private static IEnumerable<ParityCase> SixteenBitCases(NoiseArithmetic noise)
    {
        foreach (var type in SixteenBitTypes)
            foreach (var c in SixteenBitRowCases(type).Concat(SixteenBitNormCases(type)).Concat(SixteenBitRopeCases(type))
                         .Concat(SixteenBitAttentionCases(type)).Concat(SixteenBitElementwiseCases(type))
                         .Concat(SixteenBitLogitCases(type)).Concat(PerturbedEmbeddingCases(type, NoiseTolerance(noise))))
                yield return c;
    }

    /// <summary>Copies and the embedding's single rounding of a widened (or widened and summed) value: exact.</summary>
    private static IEnumerable<ParityCase> SixteenBitRowCases(DType type)
    {
        foreach (var c in EmbeddingCases(type)) yield return c;

        // Same-dtype slices copy bits; between dtypes each value is widened exactly and rounded once to nearest even,
        // which both backends do bit for bit (numeric.cuh is ScalarConversions' twin): a prefix's float32 columns sliced
        // into 16-bit keys, 16-bit columns widened, and slices between the two 16-bit types.
        foreach (var (from, to, start, width) in new[]
                 {
                     (type, type, 0, 17), (type, type, 3, 5), (DType.F32, type, 16, 1), (DType.F32, type, 3, 13),
                     (type, DType.F32, 2, 9), (Other(type), type, 1, 15),
                 })
        {
            string name = $"{from} (5, 17)[:, {start}:{start + width}] into {to}";
            yield return new ParityCase("SliceColumns", name, (reference, candidate) =>
            {
                var random = new ParityRandom(start * 7 + width + 3);
                using var x = TensorPair.Floats(reference, candidate, random.Normal(5 * 17), from, "x", 5, 17);
                using var output = TensorPair.Floats(reference, candidate, new float[5 * width], to, "output", 5, width);
                foreach (var b in new[] { reference, candidate }) b.SliceColumns(x.On(b), start, output.On(b));
                return Exact("SliceColumns", name, HostValues.Read(output.Reference), HostValues.Read(output.Candidate));
            });
        }

        foreach (var (available, width, rows) in new[] { (7, 13, new[] { 6, 0, 0, 3 }), (3, 1, new[] { 2 }), (129, 17, new[] { 128, 5, 64 }) })
        {
            string name = $"{type} ({available}, {width}) rows {string.Join(", ", rows)}";
            yield return new ParityCase("GatherRows", name, (reference, candidate) =>
            {
                var random = new ParityRandom(available * 100 + width);
                using var x = TensorPair.Floats(reference, candidate, random.Normal((long)available * width), type, "x", available, width);
                using var rowPair = TensorPair.Ints(reference, candidate, rows, "rows", rows.Length);
                using var output = TensorPair.Floats(reference, candidate, new float[rows.Length * width], type, "output", rows.Length, width);
                foreach (var b in new[] { reference, candidate }) b.GatherRows(x.On(b), rowPair.On(b), output.On(b));
                return Exact("GatherRows", name, HostValues.Read(output.Reference), HostValues.Read(output.Candidate));
            });
        }

        foreach (var (batch, length, kvHeads, headDim, capacity, past) in new[] { (2, 3, 2, 5, 8, 0), (2, 3, 2, 5, 8, 5), (1, 1, 1, 3, 4, 3), (2, 17, 1, 17, 20, 2) })
        {
            string name = $"{type} ({batch}, {length}, {kvHeads}, {headDim}) into capacity {capacity} at {past}";
            yield return new ParityCase("KvAppend", name, (reference, candidate) =>
            {
                var random = new ParityRandom(31 + past + headDim);
                long count = (long)batch * length * kvHeads * headDim, cached = (long)batch * capacity * kvHeads * headDim;
                using var keys = TensorPair.Floats(reference, candidate, random.Normal(count), type, "keys", batch, length, kvHeads, headDim);
                using var values = TensorPair.Floats(reference, candidate, random.Normal(count), type, "values", batch, length, kvHeads, headDim);
                // Caches start full of other values: nothing outside [past, past + T) may change.
                using var keyCache = TensorPair.Floats(reference, candidate, random.Normal(cached), type, "key cache", batch, capacity, kvHeads, headDim);
                using var valueCache = TensorPair.Floats(reference, candidate, random.Normal(cached), type, "value cache", batch, capacity, kvHeads, headDim);
                foreach (var b in new[] { reference, candidate })
                    b.KvAppend(keys.On(b), values.On(b), keyCache.On(b), valueCache.On(b), past);
                var k = Exact("KvAppend", name + ", keys", HostValues.Read(keyCache.Reference), HostValues.Read(keyCache.Candidate));
                return !k.Passed ? k : Exact("KvAppend", name, HostValues.Read(valueCache.Reference), HostValues.Read(valueCache.Candidate));
            });
        }
    }

    /// <summary>The other 16-bit dtype: a slice between them widens and rounds again.</summary>
    private static DType Other(DType type) => type == DType.BF16 ? DType.F16 : DType.BF16;

    private static IEnumerable<ParityCase> SixteenBitNormCases(DType type)
    {
        foreach (int width in new[] { 1, 3, 17, 129, 1000 })
            foreach (var weightType in new[] { DType.F32, type })
            {
                string name = $"{type} (5, {width}), {weightType} weight and bias";
                yield return new ParityCase("LayerNorm", name, (reference, candidate) =>
                {
                    var random = new ParityRandom(width * 3 + 11);
                    // Rows with a large mean (10) and spread 3, as in the float32 case.
                    var values = random.Normal(5L * width, 3).Select(v => v + 10).ToArray();
                    using var x = TensorPair.Floats(reference, candidate, values, type, "x", 5, width);
                    using var weight = TensorPair.Floats(reference, candidate, random.Normal(width).Select(v => 1 + 0.1f * v).ToArray(), weightType, "weight", width);
                    using var bias = TensorPair.Floats(reference, candidate, random.Normal(width, 0.1), weightType, "bias", width);
                    using var output = TensorPair.Floats(reference, candidate, new float[5 * width], type, "output", 5, width);
                    foreach (var b in new[] { reference, candidate }) b.LayerNorm(x.On(b), weight.On(b), bias.On(b), 1e-5f, output.On(b));
                    var expected = HostValues.Read(output.Reference);
                    // The float32 bound (NormTolerance), plus one 16-bit ulp where it straddles a rounding boundary.
                    return Compare("LayerNorm", name, expected, HostValues.Read(output.Candidate), i => NormTolerance(expected[i]) + Ulp(type, expected[i]));
                });

                string rmsName = $"{type} (5, {width}), {weightType} weight";
                yield return new ParityCase("RmsNorm", rmsName, (reference, candidate) =>
                {
                    var random = new ParityRandom(width * 5 + 13);
                    using var x = TensorPair.Floats(reference, candidate, random.Normal(5L * width, 2), type, "x", 5, width);
                    using var weight = TensorPair.Floats(reference, candidate, random.Normal(width).Select(v => 1 + 0.1f * v).ToArray(), weightType, "weight", width);
                    using var output = TensorPair.Floats(reference, candidate, new float[5 * width], type, "output", 5, width);
                    foreach (var b in new[] { reference, candidate }) b.RmsNorm(x.On(b), weight.On(b), 1e-6f, output.On(b));
                    var expected = HostValues.Read(output.Reference);
                    // As LayerNorm: the float32 bound plus one 16-bit ulp.
                    return Compare("RmsNorm", rmsName, expected, HostValues.Read(output.Candidate), i => NormTolerance(expected[i]) + Ulp(type, expected[i]));
                });
            }
    }

    private static IEnumerable<ParityCase> SixteenBitRopeCases(DType type)
    {
        foreach (var (batch, length, heads, headDim, rotary) in new[] { (1, 1, 1, 2, 2), (2, 3, 2, 6, 4), (2, 17, 3, 64, 64), (1, 129, 2, 80, 32) })
        {
            string name = $"{type} ({batch}, {length}, {heads}, {headDim}), {rotary} rotated";
            yield return new ParityCase("Rope", name, (reference, candidate) =>
            {
                var random = new ParityRandom(headDim * 17 + length + 1);
                using var x = TensorPair.Floats(reference, candidate, random.Normal((long)batch * length * heads * headDim), type, "x", batch, length, heads, headDim);
                var values = HostValues.Read(x.Reference); // the 16-bit inputs both sides rotate
                using var positions = TensorPair.Ints(reference, candidate, random.Ints((long)batch * length, 0, 2048), "positions", batch, length);
                var inverse = Enumerable.Range(0, rotary / 2).Select(i => (float)Math.Pow(10000, -2.0 * i / rotary)).ToArray();
                using var frequencies = TensorPair.Floats(reference, candidate, inverse, DType.F32, "inv_freq", rotary / 2);
                foreach (var b in new[] { reference, candidate }) b.Rope(x.On(b), positions.On(b), frequencies.On(b));
                int half = rotary / 2;
                var expected = HostValues.Read(x.Reference);
                return Compare("Rope", name, expected, HostValues.Read(x.Candidate), i =>
                {
                    // The float32 case's bound (a possibly fused a·c − b·s), plus one 16-bit ulp where it straddles a
                    // rounding boundary; features past the rotary ones pass through untouched.
                    int d = i % headDim, row = i - d;
                    if (d >= rotary) return 0;
                    int first = d % half;
                    return 2 * F32Unit * (Math.Abs(values[row + first]) + Math.Abs(values[row + first + half])) + Ulp(type, expected[i]);
                });
            });
        }
    }

    private static IEnumerable<ParityCase> SixteenBitAttentionCases(DType type)
    {
        var cases = new (int Batch, int Length, int Heads, int KvHeads, int HeadDim, int Past, Padding Padding, int Window)[]
        {
            (1, 1, 1, 1, 8, 0, Padding.None, 0),
            (2, 3, 4, 2, 16, 0, Padding.Left, 0),     // GQA, a query that attends nothing
            (2, 17, 4, 1, 80, 5, Padding.Right, 0),   // multi-query after a cached prefix, a width not a multiple of 32
            (2, 1, 8, 2, 128, 70, Padding.Right, 4),  // one decoding step over a long cache, a short window
            (1, 129, 2, 2, 64, 0, Padding.None, 37),  // several query blocks, windows that start inside tiles
            (2, 33, 2, 1, 256, 0, Padding.Left, 0),   // the widest head
        };
        foreach (var (batch, length, heads, kvHeads, headDim, past, padding, window) in cases)
        {
            string name = $"{type} B{batch} T{length} H{heads}/{kvHeads} D{headDim} past {past}, {padding.ToString().ToLowerInvariant()} padding" +
                          (window > 0 ? $", window {window}" : "");
            yield return new ParityCase("Attention", name, (reference, candidate) =>
            {
                int capacity = past + length + 3; // spare positions: never read
                var random = new ParityRandom(batch * 1000 + length * 10 + headDim + 1);
                var mask = PaddedKeyMask(batch, capacity, past, length, padding);
                float scale = 1 / MathF.Sqrt(headDim);
                long queries = (long)batch * length * heads * headDim, cached = (long)batch * capacity * kvHeads * headDim;
                using var q = TensorPair.Floats(reference, candidate, random.Normal(queries), type, "q", batch, length, heads, headDim);
                using var keyCache = TensorPair.Floats(reference, candidate, random.Normal(cached), type, "key cache", batch, capacity, kvHeads, headDim);
                using var valueCache = TensorPair.Floats(reference, candidate, random.Normal(cached), type, "value cache", batch, capacity, kvHeads, headDim);
                using var maskPair = TensorPair.Ints(reference, candidate, mask, "mask", batch, capacity);
                using var output = TensorPair.Floats(reference, candidate, new float[queries], type, "output", batch, length, heads, headDim);
                foreach (var b in new[] { reference, candidate })
                    b.Attention(q.On(b), keyCache.On(b), valueCache.On(b), maskPair.On(b), past, scale, window, output.On(b));

                // The float32 bound over the 16-bit inputs both sides read, plus one 16-bit ulp of the output where the
                // float32 results straddle a rounding boundary. The tensor-core kernel (flash_attention.cu, where it
                // serves) also rounds each normalised weight to the dtype before P·V: the weights sum to one, so that moves
                // an output by at most u·max|V| (u = 2^-8 bf16, 2^-11 f16), and f16 weights below its normal range by up
                // to half its smallest step each, 2^-25·(keys)·max|V|.
                var values = HostValues.Read(valueCache.Reference);
                double largestValue = values.Max(v => Math.Abs(v));
                double weightRounding = (type == DType.BF16 ? Math.Pow(2, -8) : Math.Pow(2, -11) + capacity * Math.Pow(2, -25)) * largestValue;
                double bound = AttentionFloat32Bound(HostValues.Read(q.Reference), HostValues.Read(keyCache.Reference),
                    values, batch, length, heads, kvHeads, headDim, capacity, past, scale) + weightRounding;
                var expected = HostValues.Read(output.Reference);
                return Compare("Attention", name, expected, HostValues.Read(output.Candidate), i => bound + Ulp(type, expected[i]));
            });
        }
    }

    private static IEnumerable<ParityCase> SixteenBitElementwiseCases(DType type)
    {
        var specials = new[] { 0f, -0f, 1e-30f, -1e-30f, 1e-6f, 20f, -20f, 80f, -80f, 1e4f, -1e4f };
        foreach (var kind in Enum.GetValues<ActivationKind>())
        {
            string name = $"{type} {kind} on 1031 values and extremes";
            yield return new ParityCase("Activation", name, (reference, candidate) =>
            {
                var initial = new ParityRandom(1033).Normal(1031, 3).Concat(specials).ToArray();
                using var x = TensorPair.Floats(reference, candidate, initial, type, "x", initial.Length);
                var values = HostValues.Read(x.Reference);
                foreach (var b in new[] { reference, candidate }) b.Activation(kind, x.On(b));
                var expected = HostValues.Read(x.Reference);
                // The float32 case's bounds (ElementwiseCases), plus one 16-bit ulp where they straddle a rounding
                // boundary; ReLU is exact.
                return Compare("Activation", name, expected, HostValues.Read(x.Candidate), i => kind switch
                {
                    ActivationKind.Relu => 0,
                    ActivationKind.Silu => 4 * F32Unit * Math.Abs(expected[i]) + Ulp(type, expected[i]),
                    ActivationKind.GeluTanh => 4 * F32Unit * (Math.Abs(expected[i]) + 0.5 * Math.Abs(values[i])) + Ulp(type, expected[i]),
                    _ => 2 * F32Unit * Math.Abs(expected[i]) + Ulp(type, expected[i]),
                });
            });
        }

        foreach (var (rows, width) in new[] { (1, 1), (7, 129), (3, 17) })
        {
            string name = $"{type} ({rows}, {width})";
            yield return new ParityCase("SiluMul", name, (reference, candidate) =>
            {
                var random = new ParityRandom(rows * 1000 + width);
                using var gate = TensorPair.Floats(reference, candidate, random.Normal((long)rows * width, 3), type, "gate", rows, width);
                using var up = TensorPair.Floats(reference, candidate, random.Normal((long)rows * width), type, "up", rows, width);
                foreach (var b in new[] { reference, candidate }) b.SiluMul(gate.On(b), up.On(b));
                var expected = HostValues.Read(gate.Reference);
                // The float32 case's 6 ulps, plus one 16-bit ulp where they straddle a rounding boundary.
                return Compare("SiluMul", name, expected, HostValues.Read(gate.Candidate), i => 6 * F32Unit * Math.Abs(expected[i]) + Ulp(type, expected[i]));
            });

            // One float32 addition (and, scaled, one product first, never fused) rounded once: exact.
            yield return new ParityCase("Add", name, (reference, candidate) =>
            {
                var random = new ParityRandom(rows * 1000 + width + 1);
                using var x = TensorPair.Floats(reference, candidate, random.Normal((long)rows * width), type, "x", rows, width);
                using var y = TensorPair.Floats(reference, candidate, random.Normal((long)rows * width, 1e-2), type, "y", rows, width);
                foreach (var b in new[] { reference, candidate }) b.Add(x.On(b), y.On(b));
                return Exact("Add", name, HostValues.Read(x.Reference), HostValues.Read(x.Candidate));
            });

            yield return new ParityCase("AddScaled", name + " × 0.3", (reference, candidate) =>
            {
                var random = new ParityRandom(rows * 1000 + width + 2);
                using var x = TensorPair.Floats(reference, candidate, random.Normal((long)rows * width), type, "x", rows, width);
                using var y = TensorPair.Floats(reference, candidate, random.Normal((long)rows * width), type, "y", rows, width);
                foreach (var b in new[] { reference, candidate }) b.AddScaled(x.On(b), y.On(b), 0.3f);
                return Exact("AddScaled", name + " × 0.3", HostValues.Read(x.Reference), HostValues.Read(x.Candidate));
            });
        }
    }

    private static IEnumerable<ParityCase> SixteenBitLogitCases(DType type)
    {
        foreach (int vocab in new[] { 1, 3, 17, 1000, 50272 })
        {
            string name = $"{type} 4 rows × {vocab}";
            yield return new ParityCase("LogSoftmaxGather", name, (reference, candidate) =>
            {
                var random = new ParityRandom(vocab + 1);
                using var logits = TensorPair.Floats(reference, candidate, random.Normal(4L * vocab, 3), type, "logits", 4, vocab);
                using var targets = TensorPair.Ints(reference, candidate, random.Ints(4, 0, vocab), "targets", 4);
                using var output = TensorPair.Floats(reference, candidate, new float[4], DType.F32, "output", 4);
                foreach (var b in new[] { reference, candidate }) b.LogSoftmaxGather(logits.On(b), targets.On(b), output.On(b));
                var expected = HostValues.Read(output.Reference);
                // The logits are read exactly and the result is float32: the float32 case's bound, nothing more.
                return Compare("LogSoftmaxGather", name, expected, HostValues.Read(output.Candidate), i => 2e-5 + 2e-6 * Math.Abs(expected[i]));
            });
        }

        foreach (var c in LogSoftmaxAccumulateCases(type)) yield return c;
        foreach (var c in ArgmaxCases(type)) yield return c;
    }
}
