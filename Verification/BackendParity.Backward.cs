using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Tensors;

namespace MeZO.Verification;

/// <summary>
/// The backward ops (<see cref="IBackwardOps"/>), each against the CPU backend's, on the forward cases' awkward shapes.
/// Gradients that are added to (+=) start from random values, so a kernel that writes instead of adding fails; those
/// that are written (=) start from other random values, so one that adds fails. Scatter-adds and copies must match
/// bit for bit (each element is the same chain of float32 adds, in position order, on both sides); everything else
/// is held to a tolerance derived at the case from the magnitudes of the terms summed.
/// </summary>
public static partial class BackendParity
{
    private static IEnumerable<ParityCase> BackwardCases(MatmulPrecision precision) =>
    [
        .. RowBackwardCases(), .. NormBackwardCases(), .. LinearBackwardCases(precision), .. RopeBackwardCases(),
        .. AttentionBackwardCases(), .. ElementwiseBackwardCases(), .. LogitBackwardCases(),
    ];

    /// <summary>
    /// A case that checks several gradients: the first that fails, or else the one closest to its tolerance, under the
    /// case's name. Each part runs only if the ones before it passed.
    /// </summary>
    private static ParityResult AllOf(string name, params IEnumerable<Func<ParityResult>> parts)
    {
        ParityResult? worst = null;
        foreach (var part in parts)
        {
            var result = part();
            if (!result.Passed) return result;
            if (worst is null || Ratio(result) > Ratio(worst)) worst = result;
        }
        return worst! with { Case = name };
    }

    private static double Ratio(ParityResult r) => r.MaxError == 0 ? 0 : r.MaxError / r.Tolerance;

    /// <summary>A gradient that is added to: the bound of what was added, plus the one rounding of adding it (2^-24 of the result).</summary>
    private static ParityResult CompareAdded(string operation, string name, TensorPair gradient, Func<int, double> bound)
    {
        var expected = HostValues.Read(gradient.Reference);
        return Compare(operation, name, expected, HostValues.Read(gradient.Candidate), i => bound(i) + 2 * F32Unit * Math.Abs(expected[i]));
    }

    /// <summary>A float32 tensor of standard normal values on both backends: a gradient's starting value.</summary>
    private static TensorPair RandomFloats(IBackend reference, IBackend candidate, ParityRandom random, string name, params int[] shape) =>
        TensorPair.Floats(reference, candidate, random.Normal(shape.Aggregate(1L, (a, b) => a * b)), DType.F32, name, shape);

    private static ParityResult Passed(string operation, string name) => new(operation, name, true, 0, 0, "");

    private static IBackwardOps Backward(IBackend backend) =>
        backend as IBackwardOps ?? throw new NotSupportedException($"the {backend.Name} backend has no backward ops");

    private static IEnumerable<ParityCase> RowBackwardCases()
    {
        // Ids from a few values only, so most rows of the table are hit several times (the scatter's ordering matters).
        foreach (var (vocab, width, rows, distinct) in new[] { (17, 1, 7, 3), (17, 3, 1, 17), (50, 129, 9, 4), (5, 300, 17, 2) })
        {
            string name = $"table ({vocab}, {width}), {rows} ids of {distinct} values";
            yield return new ParityCase("EmbeddingBackward", name, (reference, candidate) =>
            {
                var random = new ParityRandom(vocab * 7 + width + rows);
                using var outputGrad = RandomFloats(reference, candidate, random, "output grad", rows, width);
                using var ids = TensorPair.Ints(reference, candidate, random.Ints(rows, 0, distinct), "ids", rows);
                using var tableGrad = RandomFloats(reference, candidate, random, "table grad", vocab, width);
                foreach (var b in new[] { reference, candidate }) Backward(b).EmbeddingBackward(outputGrad.On(b), ids.On(b), tableGrad.On(b));
                return Exact("EmbeddingBackward", name, HostValues.Read(tableGrad.Reference), HostValues.Read(tableGrad.Candidate));
            });
        }

        yield return new ParityCase("EmbeddingBackward", "an id outside the table is an error", (reference, candidate) =>
        {
            using var outputGrad = TensorPair.Floats(reference, candidate, new float[6], DType.F32, "output grad", 2, 3);
            using var ids = TensorPair.Ints(reference, candidate, [1, 4], "ids", 2);
            using var tableGrad = TensorPair.Floats(reference, candidate, new float[12], DType.F32, "table grad", 4, 3);
            return BothThrow<ArgumentException>("EmbeddingBackward", "id 4 of a 4-row table", reference, candidate,
                b => Backward(b).EmbeddingBackward(outputGrad.On(b), ids.On(b), tableGrad.On(b)));
        });

        foreach (var (available, width, picked) in new[] { (7, 13, new[] { 6, 0, 0, 3 }), (1, 1, new[] { 0 }), (3, 257, new[] { 2, 2, 2, 0, 2 }) })
        {
            string name = $"({available}, {width}) rows {string.Join(", ", picked)}";
            yield return new ParityCase("GatherRowsBackward", name, (reference, candidate) =>
            {
                var random = new ParityRandom(available * 31 + width);
                using var outputGrad = TensorPair.Floats(reference, candidate, random.Normal((long)picked.Length * width), DType.F32, "output grad",
                    picked.Length, width);
                using var rows = TensorPair.Ints(reference, candidate, picked, "rows", picked.Length);
                using var inputGrad = TensorPair.Floats(reference, candidate, random.Normal((long)available * width), DType.F32, "input grad",
                    available, width);
                foreach (var b in new[] { reference, candidate }) Backward(b).GatherRowsBackward(outputGrad.On(b), rows.On(b), inputGrad.On(b));
                return Exact("GatherRowsBackward", name, HostValues.Read(inputGrad.Reference), HostValues.Read(inputGrad.Candidate));
            });
        }

        yield return new ParityCase("GatherRowsBackward", "a row outside the input is an error", (reference, candidate) =>
        {
            using var outputGrad = TensorPair.Floats(reference, candidate, new float[6], DType.F32, "output grad", 2, 3);
            using var rows = TensorPair.Ints(reference, candidate, [2, -1], "rows", 2);
            using var inputGrad = TensorPair.Floats(reference, candidate, new float[21], DType.F32, "input grad", 7, 3);
            return BothThrow<ArgumentException>("GatherRowsBackward", "row -1", reference, candidate,
                b => Backward(b).GatherRowsBackward(outputGrad.On(b), rows.On(b), inputGrad.On(b)));
        });

        // The other columns of the input gradient start random and must keep their values.
        foreach (var (start, width) in new[] { (0, 17), (3, 5), (16, 1) })
        {
            string name = $"(5, {width}) into (5, 17)[:, {start}:{start + width}]";
            yield return new ParityCase("SliceColumnsBackward", name, (reference, candidate) =>
            {
                var random = new ParityRandom(start * 11 + width);
                using var outputGrad = RandomFloats(reference, candidate, random, "output grad", 5, width);
                using var inputGrad = TensorPair.Floats(reference, candidate, random.Normal(5 * 17), DType.F32, "input grad", 5, 17);
                foreach (var b in new[] { reference, candidate }) Backward(b).SliceColumnsBackward(outputGrad.On(b), start, inputGrad.On(b));
                return Exact("SliceColumnsBackward", name, HostValues.Read(inputGrad.Reference), HostValues.Read(inputGrad.Candidate));
            });
        }
    }

    /// <summary>
    /// Reductions over C ≤ 1000 features or R ≤ 130 rows, in another order on each side (SIMD lanes and one chain per
    /// column on the CPU; block trees and row chunks on the GPU): relative error about √C·2^-24 ≈ 2e-6 of the sum of
    /// the terms' magnitudes, and the row statistics carry the same into x̂. A handful of such roundings chain into
    /// a gradient; 2e-5 of the magnitudes leaves a margin of several times over that.
    /// </summary>
    private const double NormBackwardRelative = 2e-5;

    private static IEnumerable<ParityCase> NormBackwardCases()
    {
        // 130 and 200 rows: several row chunks of the GPU's column sums, the last one partial.
        var shapes = new (int Rows, int Width, DType Weight, bool Bias, bool InPlace)[]
        {
            (5, 1, DType.F32, true, false), (3, 3, DType.BF16, false, false), (17, 17, DType.F32, true, true), (130, 129, DType.F16, true, false),
            (5, 1000, DType.BF16, false, false), (1, 129, DType.F32, false, true), (200, 17, DType.F32, false, false),
        };
        foreach (var (rows, width, type, withBias, inPlace) in shapes)
        {
            string name = $"({rows}, {width}) {type} weight{(withBias ? ", bias" : "")}{(inPlace ? ", input grad over the output grad" : "")}";
            yield return new ParityCase("LayerNormBackward", name, (reference, candidate) =>
            {
                var random = new ParityRandom(rows * 1000 + width);
                // A large mean (10) and spread 3, as the forward case: the statistics must not cancel.
                var xs = random.Normal((long)rows * width, 3).Select(v => v + 10).ToArray();
                var dy = random.Normal((long)rows * width);
                using var x = TensorPair.Floats(reference, candidate, xs, DType.F32, "x", rows, width);
                using var weight = TensorPair.Floats(reference, candidate, random.Normal(width).Select(v => 1 + 0.1f * v).ToArray(), type,
                    "weight", width);
                using var outputGrad = TensorPair.Floats(reference, candidate, dy, DType.F32, "output grad", rows, width);
                using var inputGradOwn = inPlace ? null : RandomFloats(reference, candidate, random, "input grad", rows, width);
                var inputGrad = inputGradOwn ?? outputGrad;
                using var weightGrad = TensorPair.Floats(reference, candidate, random.Normal(width), DType.F32, "weight grad", width);
                using var biasGrad = withBias ? RandomFloats(reference, candidate, random, "bias grad", width) : null;
                foreach (var b in new[] { reference, candidate })
                    Backward(b).LayerNormBackward(x.On(b), weight.On(b), 1e-5f, outputGrad.On(b), inputGrad.On(b), weightGrad.On(b), biasGrad?.On(b));

                var w = HostValues.Read(weight.Reference);
                var (inputScale, weightScale, biasScale) = NormMagnitudes(xs, dy, w, rows, width, layerNorm: true, 1e-5);
                return AllOf(name,
                    () => Compare("LayerNormBackward", name + ": input grad", HostValues.Read(inputGrad.Reference),
                        HostValues.Read(inputGrad.Candidate), i => NormBackwardRelative * inputScale[i]),
                    () => CompareAdded("LayerNormBackward", name + ": weight grad", weightGrad, i => NormBackwardRelative * weightScale[i]),
                    () => biasGrad is null ? Passed("LayerNormBackward", name) :
                        CompareAdded("LayerNormBackward", name + ": bias grad", biasGrad, i => NormBackwardRelative * biasScale[i]));
            });
            if (withBias) continue;
            var rmsType = type == DType.BF16 ? DType.F16 : type;
            string rmsName = $"({rows}, {width}) {rmsType} weight{(inPlace ? ", input grad over the output grad" : "")}";
            yield return new ParityCase("RmsNormBackward", rmsName, (reference, candidate) =>
            {
                var random = new ParityRandom(rows * 1000 + width + 1);
                var xs = random.Normal((long)rows * width, 2);
                var dy = random.Normal((long)rows * width);
                using var x = TensorPair.Floats(reference, candidate, xs, DType.F32, "x", rows, width);
                using var weight = TensorPair.Floats(reference, candidate, random.Normal(width).Select(v => 1 + 0.1f * v).ToArray(), rmsType,
                    "weight", width);
                using var outputGrad = TensorPair.Floats(reference, candidate, dy, DType.F32, "output grad", rows, width);
                using var inputGradOwn = inPlace ? null : RandomFloats(reference, candidate, random, "input grad", rows, width);
                var inputGrad = inputGradOwn ?? outputGrad;
                using var weightGrad = TensorPair.Floats(reference, candidate, random.Normal(width), DType.F32, "weight grad", width);
                foreach (var b in new[] { reference, candidate })
                    Backward(b).RmsNormBackward(x.On(b), weight.On(b), 1e-6f, outputGrad.On(b), inputGrad.On(b), weightGrad.On(b));

                var w = HostValues.Read(weight.Reference);
                var (inputScale, weightScale, _) = NormMagnitudes(xs, dy, w, rows, width, layerNorm: false, 1e-6);
                return AllOf(rmsName,
                    () => Compare("RmsNormBackward", rmsName + ": input grad", HostValues.Read(inputGrad.Reference),
                        HostValues.Read(inputGrad.Candidate), i => NormBackwardRelative * inputScale[i]),
                    () => CompareAdded("RmsNormBackward", rmsName + ": weight grad", weightGrad, i => NormBackwardRelative * weightScale[i]));
            });
        }
    }

    /// <summary>
    /// The magnitudes the norm gradients are sums of, in double: per input element rstd·(|g| + mean|g| + (1 + |x̂|)·mean|g·x̂|)
    /// (LayerNorm; x̂'s own error is absolute, hence 1 + |x̂|) or rstd·(|g| + (1 + |x|·rstd)·mean|g·x|·rstd) (RMSNorm),
    /// with g = outputGrad·w; per column Σ_rows |outputGrad|·(1 + |x̂|) for the weight and Σ_rows |outputGrad| for the bias.
    /// </summary>
    private static (double[] Input, double[] Weight, double[] Bias) NormMagnitudes(float[] xs, float[] dy, float[] w, int rows, int width,
        bool layerNorm, double eps)
    {
        var input = new double[xs.Length];
        var weight = new double[width];
        var bias = new double[width];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, squares = 0;
            if (layerNorm)
                for (int c = 0; c < width; c++) mean += xs[r * width + c] / (double)width;
            for (int c = 0; c < width; c++) squares += Math.Pow(xs[r * width + c] - mean, 2) / width;
            double rstd = 1 / Math.Sqrt(squares + eps), meanG = 0, meanGx = 0;
            for (int c = 0; c < width; c++)
            {
                int e = r * width + c;
                double g = Math.Abs(dy[e] * (double)w[c]), xhat = Math.Abs((xs[e] - mean) * rstd);
                meanG += g / width;
                meanGx += g * xhat / width;
                weight[c] += Math.Abs(dy[e]) * (1 + xhat);
                bias[c] += Math.Abs(dy[e]);
            }
            for (int c = 0; c < width; c++)
            {
                int e = r * width + c;
                double g = Math.Abs(dy[e] * (double)w[c]), xhat = Math.Abs((xs[e] - mean) * rstd);
                input[e] = rstd * (g + (layerNorm ? meanG : 0) + (1 + xhat) * meanGx);
            }
        }
        return (input, weight, bias);
    }

    private static IEnumerable<ParityCase> LinearBackwardCases(MatmulPrecision precision)
    {
        // Which gradients are asked for: all three, or the input's or the weight's alone (the others null).
        var shapes = new (int M, int K, int N, bool Transposed, DType Weight, bool Input, bool WeightGrad, bool Bias)[]
        {
            (1, 1, 3, false, DType.F32, true, true, true),
            (3, 17, 5, false, DType.BF16, true, true, true),
            (17, 129, 65, true, DType.F32, true, true, true),   // GPT-2's Conv1D layout
            (129, 3, 17, false, DType.F16, true, true, false),
            (5, 64, 64, true, DType.BF16, true, false, false),
            (70, 200, 3, true, DType.F16, false, true, true),
            (33, 100, 130, false, DType.F32, false, true, false),
        };
        foreach (var (m, k, n, transposed, weightType, wantInput, wantWeight, wantBias) in shapes)
        {
            string name = $"({m}, {k})·{(transposed ? $"({k}, {n})" : $"({n}, {k})ᵀ")} {weightType}:" +
                          $"{(wantInput ? " input" : "")}{(wantWeight ? " weight" : "")}{(wantBias ? " bias" : "")}";
            yield return new ParityCase("LinearBackward", name, (reference, candidate) =>
            {
                var random = new ParityRandom(m * 1000 + k * 10 + n + 7);
                int[] weightShape = transposed ? [k, n] : [n, k];
                var xs = random.Normal((long)m * k);
                var dy = random.Normal((long)m * n);
                using var x = TensorPair.Floats(reference, candidate, xs, DType.F32, "x", m, k);
                using var weight = TensorPair.Floats(reference, candidate, random.Normal((long)n * k, 0.1), weightType, "weight", weightShape);
                using var outputGrad = TensorPair.Floats(reference, candidate, dy, DType.F32, "output grad", m, n);
                using var inputGrad = wantInput ? RandomFloats(reference, candidate, random, "input grad", m, k) : null;
                using var weightGrad = wantWeight ? RandomFloats(reference, candidate, random, "weight grad", weightShape) : null;
                using var biasGrad = wantBias ? TensorPair.Floats(reference, candidate, random.Normal(n), DType.F32, "bias grad", n) : null;
                foreach (var b in new[] { reference, candidate })
                    Backward(b).LinearBackward(x.On(b), weight.On(b), transposed, outputGrad.On(b), inputGrad?.On(b), weightGrad?.On(b),
                        biasGrad?.On(b));

                var ws = HostValues.Read(weight.Reference);
                double W(int row, int column) => Math.Abs(ws[transposed ? column * n + row : row * k + column]); // W[n, k]
                // Each product accumulates in float32 on both sides (error ≤ L·2^-24 of Σ|terms| for L terms), after the
                // candidate may round its inputs (LinearInputRounding: the weight's dtype for the input gradient, whose
                // right operand is W; float32 operands, so TF32 under mixed precision, for the weight gradient); a
                // gradient that is added to rounds once more.
                double inputRounding = LinearInputRounding(precision, weightType), weightRounding = LinearInputRounding(precision, DType.F32);
                return AllOf(name,
                    () => inputGrad is null ? Passed("LinearBackward", name) :
                        Compare("LinearBackward", name + ": input grad", HostValues.Read(inputGrad.Reference),
                            HostValues.Read(inputGrad.Candidate), i =>
                        {
                            int row = i / k, column = i % k;
                            double magnitude = 0;
                            for (int j = 0; j < n; j++) magnitude += Math.Abs(dy[row * n + j]) * W(j, column);
                            return (inputRounding + 2.0 * n * F32Unit) * magnitude + 1e-30;
                        }),
                    () => weightGrad is null ? Passed("LinearBackward", name) :
                        CompareAdded("LinearBackward", name + ": weight grad", weightGrad, i =>
                        {
                            int outputColumn = transposed ? i % n : i / k, inputColumn = transposed ? i / n : i % k;
                            double magnitude = 0;
                            for (int r = 0; r < m; r++) magnitude += Math.Abs(dy[r * n + outputColumn]) * Math.Abs(xs[r * k + inputColumn]);
                            return (weightRounding + 2.0 * m * F32Unit) * magnitude;
                        }),
                    () => biasGrad is null ? Passed("LinearBackward", name) :
                        CompareAdded("LinearBackward", name + ": bias grad", biasGrad, i =>
                        {
                            double magnitude = 0;
                            for (int r = 0; r < m; r++) magnitude += Math.Abs(dy[r * n + i]);
                            return 2.0 * m * F32Unit * magnitude;
                        }));
            });
        }
    }

    private static IEnumerable<ParityCase> RopeBackwardCases()
    {
        // Full and partial rotary widths; positions up to 2048, where the angles are large.
        foreach (var (batch, length, heads, headDim, rotary) in new[] { (1, 1, 1, 2, 2), (2, 3, 2, 6, 4), (2, 5, 3, 64, 64), (1, 17, 2, 128, 32) })
        {
            string name = $"({batch}, {length}, {heads}, {headDim}), {rotary} rotated";
            yield return new ParityCase("RopeBackward", name, (reference, candidate) =>
            {
                var random = new ParityRandom(headDim * 19 + length);
                var values = random.Normal((long)batch * length * heads * headDim);
                using var grad = TensorPair.Floats(reference, candidate, values, DType.F32, "grad", batch, length, heads, headDim);
                using var positions = TensorPair.Ints(reference, candidate, random.Ints((long)batch * length, 0, 2048), "positions", batch, length);
                var inverse = Enumerable.Range(0, rotary / 2).Select(i => (float)Math.Pow(10000, -2.0 * i / rotary)).ToArray();
                using var frequencies = TensorPair.Floats(reference, candidate, inverse, DType.F32, "inv_freq", rotary / 2);
                foreach (var b in new[] { reference, candidate }) Backward(b).RopeBackward(grad.On(b), positions.On(b), frequencies.On(b));
                int half = rotary / 2;
                return Compare("RopeBackward", name, HostValues.Read(grad.Reference), HostValues.Read(grad.Candidate), i =>
                {
                    // The forward case's reasoning: the same angle and cos/sin (double, rounded once), the same two products
                    // and sum (no fma in the kernel); an ulp of each product allowed where a device's double cos/sin round
                    // to the neighbouring float. Features past the rotary ones are copied: exact.
                    int d = i % headDim, row = i - d;
                    if (d >= rotary) return 0;
                    int first = d % half;
                    return 2 * F32Unit * (Math.Abs(values[row + first]) + Math.Abs(values[row + first + half]));
                });
            });
        }
    }

    private static IEnumerable<ParityCase> AttentionBackwardCases()
    {
        // The forward's cases that matter to the backward: one query, GQA and multi-query, padding on both sides (left
        // padding leaves queries with nothing to attend), a cached prefix, windows shorter and longer than the sequence
        // and of one key, a decoding step, the widest head.
        var cases = new (int Batch, int Length, int Heads, int KvHeads, int HeadDim, int Past, Padding Padding, int Window)[]
        {
            (1, 1, 1, 1, 8, 0, Padding.None, 0),
            (2, 3, 4, 2, 16, 0, Padding.Left, 0),
            (2, 17, 4, 1, 64, 5, Padding.Right, 0),
            (1, 17, 2, 2, 16, 0, Padding.None, 4),
            (2, 9, 4, 2, 32, 0, Padding.Right, 40),
            (2, 3, 4, 2, 48, 0, Padding.Left, 1),
            (2, 40, 2, 1, 80, 30, Padding.Right, 33),
            (2, 1, 8, 2, 128, 70, Padding.Left, 4),
            (1, 5, 2, 1, 256, 0, Padding.None, 0),
        };
        foreach (var (batch, length, heads, kvHeads, headDim, past, padding, window) in cases)
        {
            string name = $"B{batch} T{length} H{heads}/{kvHeads} D{headDim} past {past}, {padding.ToString().ToLowerInvariant()} padding" +
                          (window > 0 ? $", window {window}" : "");
            yield return new ParityCase("AttentionBackward", name, (reference, candidate) =>
            {
                int capacity = past + length + 3; // spare positions: never read, their gradients never touched
                var random = new ParityRandom(batch * 1000 + length * 10 + headDim + 1);
                var q = random.Normal((long)batch * length * heads * headDim);
                var keys = random.Normal((long)batch * capacity * kvHeads * headDim);
                var values = random.Normal((long)batch * capacity * kvHeads * headDim);
                var dOut = random.Normal(q.Length);
                var mask = PaddedKeyMask(batch, capacity, past, length, padding);
                float scale = 1 / MathF.Sqrt(headDim);
                using var qPair = TensorPair.Floats(reference, candidate, q, DType.F32, "q", batch, length, heads, headDim);
                using var keyCache = TensorPair.Floats(reference, candidate, keys, DType.F32, "key cache", batch, capacity, kvHeads, headDim);
                using var valueCache = TensorPair.Floats(reference, candidate, values, DType.F32, "value cache", batch, capacity, kvHeads, headDim);
                using var maskPair = TensorPair.Ints(reference, candidate, mask, "mask", batch, capacity);
                // Both sides get the reference's forward output (an input of the backward).
                using var forward = reference.Allocate(new TensorShape(batch, length, heads, headDim), DType.F32, MemoryCategory.Activations,
                    "output");
                reference.Attention(qPair.Reference, keyCache.Reference, valueCache.Reference, maskPair.Reference, past, scale, window, forward);
                var o = HostValues.Read(forward);
                using var output = TensorPair.Floats(reference, candidate, o, DType.F32, "output", batch, length, heads, headDim);
                using var outputGrad = TensorPair.Floats(reference, candidate, dOut, DType.F32, "output grad", batch, length, heads, headDim);
                using var qGrad = RandomFloats(reference, candidate, random, "q grad", batch, length, heads, headDim);
                using var keyGrad = RandomFloats(reference, candidate, random, "key grad", batch, capacity, kvHeads, headDim);
                using var valueGrad = RandomFloats(reference, candidate, random, "value grad", batch, capacity, kvHeads, headDim);
                foreach (var b in new[] { reference, candidate })
                    Backward(b).AttentionBackward(qPair.On(b), keyCache.On(b), valueCache.On(b), maskPair.On(b), past, scale, window, output.On(b),
                        outputGrad.On(b), qGrad.On(b), keyGrad.On(b), valueGrad.On(b));

                var bound = AttentionBackwardMagnitudes(q, keys, values, o, dOut, mask, batch, length, heads, kvHeads, headDim, capacity, past,
                    window, scale);
                return AllOf(name,
                    () => Compare("AttentionBackward", name + ": q grad", HostValues.Read(qGrad.Reference), HostValues.Read(qGrad.Candidate),
                        i => bound.Factor * bound.Q[i]),
                    () => CompareAdded("AttentionBackward", name + ": key grad", keyGrad, i => bound.Factor * bound.Key[i]),
                    () => CompareAdded("AttentionBackward", name + ": value grad", valueGrad, i => bound.Factor * bound.Value[i]));
            });
        }
    }

    /// <summary>
    /// The attention gradients' error bound, from the magnitudes of what they sum (in double). With P the weights,
    /// dP_j = dO·V_j and δ = dO·O: dQ = scale·Σ_j P_j(dP_j − δ)K_j, dK_j = scale·Σ P(dP_j − δ)Q, dV_j = Σ P·dO. Scores are
    /// float32 dot products of D terms in another order, absolute error Δs ≤ 2·D·2^-24·scale·Σ|q||k| (the forward
    /// case's bound), which exp and the normalisation turn into a relative error ≤ 2·Δs of every weight; dP_j and δ
    /// carry 2·D·2^-24 of A_j = Σ|dO||V_j| and B = Σ|dO||O|, and |dP_j − δ| ≤ A_j + B; the sums over keys or queries
    /// (L terms) add L·2^-24, exp and the reciprocal a few ulps. So each element's tolerance is Factor = 2·maxΔs +
    /// (2D + L + 8)·2^-24 times Σ P·(A_j + B)·|K| (dQ), Σ scale·P·(A_j + B)·|Q| (dK), Σ P·|dO| (dV). A query with no key
    /// to attend has bound 0: its gradient must be exactly zero on both sides.
    /// </summary>
    private static (double[] Q, double[] Key, double[] Value, double Factor) AttentionBackwardMagnitudes(float[] q, float[] keys, float[] values,
        float[] o, float[] dOut, int[] mask, int batch, int length, int heads, int kvHeads, int headDim, int capacity, int past, int window,
        float scale)
    {
        var qBound = new double[q.Length];
        var keyBound = new double[keys.Length];
        var valueBound = new double[keys.Length];
        int group = heads / kvHeads;
        double maxScoreError = 0;
        double Dot(float[] a, long ai, float[] b, long bi, bool absolute)
        {
            double sum = 0;
            for (int d = 0; d < headDim; d++) sum += absolute ? Math.Abs(a[ai + d] * (double)b[bi + d]) : a[ai + d] * (double)b[bi + d];
            return sum;
        }
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
                for (int h = 0; h < heads; h++)
                {
                    long row = (((long)b * length + t) * heads + h) * headDim;
                    int end = past + t + 1, first = window > 0 ? Math.Max(0, end - window) : 0;
                    var attended = Enumerable.Range(first, end - first).Where(j => mask[b * capacity + j] != 0).ToArray();
                    if (attended.Length == 0) continue;
                    long Slot(int j) => (((long)b * capacity + j) * kvHeads + h / group) * headDim;
                    var scores = attended.Select(j => scale * Dot(q, row, keys, Slot(j), false)).ToArray();
                    double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
                    double outputMagnitude = Dot(dOut, row, o, row, true);
                    for (int a = 0; a < attended.Length; a++)
                    {
                        long slot = Slot(attended[a]);
                        maxScoreError = Math.Max(maxScoreError, 2.0 * headDim * F32Unit * scale * Dot(q, row, keys, slot, true));
                        double p = Math.Exp(scores[a] - max) / sum, spread = Dot(dOut, row, values, slot, true) + outputMagnitude;
                        for (int d = 0; d < headDim; d++)
                        {
                            qBound[row + d] += scale * p * spread * Math.Abs(keys[slot + d]);
                            keyBound[slot + d] += scale * p * spread * Math.Abs(q[row + d]);
                            valueBound[slot + d] += p * Math.Abs(dOut[row + d]);
                        }
                    }
                }
        double factor = 2 * maxScoreError + (2.0 * headDim + past + length + (double)length * group + 8) * F32Unit;
        return (qBound, keyBound, valueBound, factor);
    }

    private static IEnumerable<ParityCase> ElementwiseBackwardCases()
    {
        var specials = new[] { 0f, -0f, 1e-30f, -1e-30f, 20f, -20f, 80f, -80f, 1e4f, -1e4f, float.NaN };
        foreach (var kind in Enum.GetValues<ActivationKind>())
            yield return new ParityCase("ActivationBackward", $"{kind} on 1031 values and extremes", (reference, candidate) =>
            {
                var random = new ParityRandom(2031);
                var xs = random.Normal(1031, 3).Concat(specials).ToArray();
                var grads = random.Normal(xs.Length);
                using var input = TensorPair.Floats(reference, candidate, xs, DType.F32, "input", xs.Length);
                using var grad = TensorPair.Floats(reference, candidate, grads, DType.F32, "grad", xs.Length);
                foreach (var b in new[] { reference, candidate }) Backward(b).ActivationBackward(kind, input.On(b), grad.On(b));
                var expected = HostValues.Read(grad.Reference);
                return Compare("ActivationBackward", kind.ToString(), expected, HostValues.Read(grad.Candidate),
                    i => Math.Abs(grads[i]) * DerivativeError(kind, xs[i]) + 2 * F32Unit * Math.Abs(expected[i]));
            });

        yield return new ParityCase("SiluMulBackward", "(7, 129)", (reference, candidate) =>
        {
            var random = new ParityRandom(7130);
            var gates = random.Normal(7 * 129, 3);
            var ups = random.Normal(7 * 129);
            var dy = random.Normal(7 * 129);
            using var gate = TensorPair.Floats(reference, candidate, gates, DType.F32, "gate", 7, 129);
            using var up = TensorPair.Floats(reference, candidate, ups, DType.F32, "up", 7, 129);
            using var outputGrad = TensorPair.Floats(reference, candidate, dy, DType.F32, "output grad", 7, 129);
            using var gateGrad = TensorPair.Floats(reference, candidate, random.Normal(7 * 129), DType.F32, "gate grad", 7, 129);
            using var upGrad = TensorPair.Floats(reference, candidate, random.Normal(7 * 129), DType.F32, "up grad", 7, 129);
            foreach (var b in new[] { reference, candidate })
                Backward(b).SiluMulBackward(gate.On(b), up.On(b), outputGrad.On(b), gateGrad.On(b), upGrad.On(b));
            var expectedGate = HostValues.Read(gateGrad.Reference);
            var expectedUp = HostValues.Read(upGrad.Reference);
            return AllOf("(7, 129)",
                // silu′ as ActivationBackward's, then two exactly rounded products.
                () => Compare("SiluMulBackward", "(7, 129): gate grad", expectedGate, HostValues.Read(gateGrad.Candidate),
                    i => Math.Abs(ups[i] * (double)dy[i]) * DerivativeError(ActivationKind.Silu, gates[i]) + 4 * F32Unit * Math.Abs(expectedGate[i])),
                // silu = x·σ(x), σ = 1/(1 + exp(−x)) relative 8 ulps apart (DerivativeError's), then two roundings per side.
                () => Compare("SiluMulBackward", "(7, 129): up grad", expectedUp, HostValues.Read(upGrad.Candidate),
                    i => 12 * F32Unit * Math.Abs(expectedUp[i])));
        });
    }

    /// <summary>
    /// The absolute error of f′(x) between the two sides: the formulas are the same operations (no fma on the GPU),
    /// so only expf and tanhf differ, by at most 2 ulps (the forward cases' bound). silu′ = σ + x·σ·(1 − σ): σ's error
    /// reaches every term, which cancel near x ≈ −1.28, so the bound is on their magnitudes. GELU-tanh: t = tanh u is off
    /// by 2 ulps absolute (|t| ≤ 1), which reaches f′ through ∂f′/∂t = ½(1 − 2t·x·u′), and 1 − t multiplies x·u′ (large for
    /// large |x|, where t is exactly ±1 on both sides). Exact GELU: double on both sides, the float rounding may differ.
    /// </summary>
    private static double DerivativeError(ActivationKind kind, float x)
    {
        switch (kind)
        {
            case ActivationKind.Relu:
                return 0;
            case ActivationKind.Silu:
                double sigmoid = 1 / (1 + Math.Exp(-x));
                return 8 * F32Unit * (sigmoid + Math.Abs(x * sigmoid * (1 - sigmoid)));
            case ActivationKind.GeluTanh:
                double xdu = Math.Abs(0.7978845608028654 * x * (1 + 3 * 0.044715 * x * (double)x));
                return 8 * F32Unit * (1 + 2 * xdu);
            default:
                return 2 * F32Unit * 1.13; // an ulp of f′, |f′| ≤ 1.13
        }
    }

    private static IEnumerable<ParityCase> LogitBackwardCases()
    {
        foreach (int vocab in new[] { 1, 3, 17, 1000, 50272 })
            yield return new ParityCase("LogSoftmaxGatherBackward", $"4 rows × {vocab}", (reference, candidate) =>
            {
                var random = new ParityRandom(vocab + 3);
                var logits = random.Normal(4L * vocab, 3);
                var dy = random.Normal(4);
                using var logitsPair = TensorPair.Floats(reference, candidate, logits, DType.F32, "logits", 4, vocab);
                using var targets = TensorPair.Ints(reference, candidate, random.Ints(4, 0, vocab), "targets", 4);
                using var outputGrad = TensorPair.Floats(reference, candidate, dy, DType.F32, "output grad", 4);
                using var logitsGrad = RandomFloats(reference, candidate, random, "logits grad", 4, vocab);
                foreach (var b in new[] { reference, candidate })
                    Backward(b).LogSoftmaxGatherBackward(logitsPair.On(b), targets.On(b), outputGrad.On(b), logitsGrad.On(b));
                var expected = HostValues.Read(logitsGrad.Reference);
                var softmax = new double[logits.Length];
                for (int r = 0; r < 4; r++)
                {
                    double max = logits.Skip(r * vocab).Take(vocab).Max(), sum = 0;
                    for (int v = 0; v < vocab; v++) sum += Math.Exp(logits[r * vocab + v] - max);
                    for (int v = 0; v < vocab; v++) softmax[r * vocab + v] = Math.Exp(logits[r * vocab + v] - max) / sum;
                }
                // Each softmax weight carries the denominator's error (LogSoftmaxGather's: relative 2e-5 at V = 50272)
                // and its exponential's (2 ulps), then two products; the target's element adds outputGrad once more.
                return Compare("LogSoftmaxGatherBackward", $"4 rows × {vocab}", expected, HostValues.Read(logitsGrad.Candidate),
                    i => Math.Abs(dy[i / vocab]) * softmax[i] * (2e-5 + 6 * F32Unit) + 2 * F32Unit * Math.Abs(expected[i]));
            });

        yield return new ParityCase("LogSoftmaxGatherBackward", "a target outside the vocabulary is an error", (reference, candidate) =>
        {
            using var logits = TensorPair.Floats(reference, candidate, new float[2 * 5], DType.F32, "logits", 2, 5);
            using var targets = TensorPair.Ints(reference, candidate, [4, 5], "targets", 2);
            using var outputGrad = TensorPair.Floats(reference, candidate, new float[2], DType.F32, "output grad", 2);
            using var logitsGrad = TensorPair.Floats(reference, candidate, new float[2 * 5], DType.F32, "logits grad", 2, 5);
            return BothThrow<ArgumentException>("LogSoftmaxGatherBackward", "target 5 of 5", reference, candidate,
                b => Backward(b).LogSoftmaxGatherBackward(logits.On(b), targets.On(b), outputGrad.On(b), logitsGrad.On(b)));
        });
    }
}
