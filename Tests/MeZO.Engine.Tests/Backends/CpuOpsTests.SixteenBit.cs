using MeZO.Engine.Backends;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Engine.Tests.Backends;

/// <summary>
/// 16-bit activations (IBackend's rounding points): an op on BF16/F16 activations must give exactly the float32 op on
/// the same values, each output rounded once to nearest even. The float32 ops are checked against double references in
/// the other partial files; the rounding here is the test's own (<see cref="ReferenceRounding"/>), so what these cases
/// check is the widening, the single rounding, in-place updates and element sizes, bit for bit.
/// </summary>
public sealed partial class CpuOpsTests
{
    private static readonly DType[] SixteenBitTypes = [DType.BF16, DType.F16];

    /// <summary>A 16-bit activation tensor; <paramref name="values"/> are rounded in place to what it holds.</summary>
    private Tensor Activation16(string name, DType type, float[] values, params int[] shape) => Weight(name, type, values, shape);

    private float[] Widened(Tensor t) => HostValues.Read(t);

    private static float[] Rounded(DType type, float[] values) => values.Select(v => ReferenceRounding.Round(type, v)).ToArray();

    private static void AssertSameBits(float[] actual, float[] expected, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(actual[i]) != BitConverter.SingleToInt32Bits(expected[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, the float32 op rounded once gives {expected[i]:R}");
    }

    [Test]
    public void SixteenBitNormsAndProductsRoundTheFloat32OpOnce([ValueSource(nameof(SixteenBitTypes))] DType type,
        [ValueSource(nameof(AwkwardLengths))] int width)
    {
        var rng = new Random(width);
        const int rows = 3;
        float[] x = Rounded(type, Normal(rng, rows * width, scale: 3, offset: 0.5));
        float[] gamma = Normal(rng, width, scale: 0.2, offset: 1), beta = Normal(rng, width, scale: 0.2);
        float[] w = Normal(rng, 7 * width, scale: 0.3), bias = Normal(rng, 7);
        var gammaT = Weight("gamma", type, gamma, width);
        var betaT = Weight("beta", type, beta, width);
        var weightT = Weight("w", type, w, 7, width);
        var biasT = Weight("b", DType.F32, bias, 7);
        var loraT = Weight("lora_a", DType.F32, Normal(rng, 5 * width), 5, width); // a float32 adapter over 16-bit activations

        var x16 = Activation16("x", type, (float[])x.Clone(), rows, width);
        var x32 = F32("x32", x, rows, width);
        void Check(string what, Action<Tensor, Tensor> op, int outWidth)
        {
            var out16 = Zeros(what + "16", type, rows, outWidth);
            var out32 = Zeros(what + "32", DType.F32, rows, outWidth);
            op(x16, out16);
            op(x32, out32);
            AssertSameBits(Widened(out16), Rounded(type, ReadF32(out32)), what);
        }

        Check("layernorm", (i, o) => Backend.LayerNorm(i, gammaT, betaT, 1e-5f, o), width);
        Check("rmsnorm", (i, o) => Backend.RmsNorm(i, gammaT, 1e-6f, o), width);
        Check("linear", (i, o) => Backend.Linear(i, weightT, false, biasT, o), 7);
        Check("lora", (i, o) => Backend.Linear(i, loraT, false, null, o), 5);
    }

    [Test]
    public void SixteenBitElementwiseOpsRoundOnceInPlace([ValueSource(nameof(SixteenBitTypes))] DType type, [Values] ActivationKind kind)
    {
        var rng = new Random((int)kind);
        const int n = 129;
        float[] a = Rounded(type, Normal(rng, n, scale: 4)), b = Rounded(type, Normal(rng, n, scale: 2));
        void Check(string what, Action<Tensor, Tensor> op)
        {
            var x16 = Activation16("x", type, (float[])a.Clone(), n);
            var y16 = Activation16("y", type, (float[])b.Clone(), n);
            var x32 = F32("x32", a, n);
            var y32 = F32("y32", b, n);
            op(x16, y16);
            op(x32, y32);
            AssertSameBits(Widened(x16), Rounded(type, ReadF32(x32)), what);
            AssertSameBits(Widened(y16), b, what + ": the second operand is read, never written");
        }

        Check(kind.ToString(), (x, _) => Backend.Activation(kind, x));
        Check("silu_mul", Backend.SiluMul);
        Check("add", Backend.Add);
        Check("add_scaled", (x, y) => Backend.AddScaled(x, y, 0.37f));
        // x += x: one tensor named twice is read once and written once.
        var twice16 = Activation16("twice", type, (float[])a.Clone(), n);
        var twice32 = F32("twice32", a, n);
        Backend.Add(twice16, twice16);
        Backend.Add(twice32, twice32);
        AssertSameBits(Widened(twice16), Rounded(type, ReadF32(twice32)), "x += x");
    }

    [Test]
    public void SixteenBitRopeAttentionAndLogitsRoundTheFloat32OpOnce([ValueSource(nameof(SixteenBitTypes))] DType type,
        [Values(1, 3, 17)] int length)
    {
        var rng = new Random(length);
        const int batch = 2, heads = 4, kvHeads = 2, headDim = 8, past = 2;
        int capacity = past + length;
        float[] q = Rounded(type, Normal(rng, batch * length * heads * headDim, scale: 2));
        float[] k = Rounded(type, Normal(rng, batch * capacity * kvHeads * headDim, scale: 2));
        float[] v = Rounded(type, Normal(rng, batch * capacity * kvHeads * headDim));
        int[] positions = Enumerable.Range(0, batch * length).Select(i => past + i % length).ToArray();
        float[] inv = [1f, 0.1f, 0.01f, 0.001f];
        var positionsT = I32("positions", positions, batch, length);
        var invT = F32("inv_freq", inv, 4);

        var q16 = Activation16("q", type, (float[])q.Clone(), batch, length, heads, headDim);
        var q32 = F32("q32", q, batch, length, heads, headDim);
        Backend.Rope(q16, positionsT, invT);
        Backend.Rope(q32, positionsT, invT);
        AssertSameBits(Widened(q16), Rounded(type, ReadF32(q32)), "rope");

        // Attention reads the rotated queries of each dtype; the float32 side reads the 16-bit side's values.
        float[] rotated = Widened(q16);
        var mask = I32("mask", KeyMask(batch, capacity, capacity, Padding.Left), batch, capacity);
        var out16 = Zeros("att16", type, batch, length, heads, headDim);
        var out32 = Zeros("att32", DType.F32, batch, length, heads, headDim);
        Backend.Attention(q16, Activation16("k", type, (float[])k.Clone(), batch, capacity, kvHeads, headDim),
            Activation16("v", type, (float[])v.Clone(), batch, capacity, kvHeads, headDim), mask, past, 0.35f, 0, out16);
        Backend.Attention(F32("rq32", rotated, batch, length, heads, headDim), F32("k32", k, batch, capacity, kvHeads, headDim),
            F32("v32", v, batch, capacity, kvHeads, headDim), mask, past, 0.35f, 0, out32);
        AssertSameBits(Widened(out16), Rounded(type, ReadF32(out32)), "attention");

        // 16-bit logits: float32 statistics, results exactly the float32 op's on the same values.
        const int vocab = 37;
        int scored = batch * length;
        float[] logits = Rounded(type, Normal(rng, scored * vocab, scale: 5));
        int[] targets = Enumerable.Range(0, scored).Select(i => i * 7 % vocab).ToArray();
        var logits16 = Activation16("logits", type, (float[])logits.Clone(), scored, vocab);
        var logits32 = F32("logits32", logits, scored, vocab);
        var targetsT = I32("targets", targets, scored);
        var lp16 = Zeros("lp16", DType.F32, scored);
        var lp32 = Zeros("lp32", DType.F32, scored);
        Backend.LogSoftmaxGather(logits16, targetsT, lp16);
        Backend.LogSoftmaxGather(logits32, targetsT, lp32);
        AssertSameBits(ReadF32(lp16), ReadF32(lp32), "log_softmax_gather");
        var best16 = Zeros("best16", DType.I32, scored);
        var best32 = Zeros("best32", DType.I32, scored);
        Backend.Argmax(logits16, best16);
        Backend.Argmax(logits32, best32);
        Assert.That(ReadI32(best16), Is.EqualTo(ReadI32(best32)), "argmax");
    }

    [Test]
    public void SixteenBitCopiesMoveElementsAndConvertOnlyBetweenDtypes([ValueSource(nameof(SixteenBitTypes))] DType type)
    {
        var rng = new Random(3);
        const int rows = 5, columns = 11, width = 4, start = 3;
        float[] values = Rounded(type, Normal(rng, rows * columns, scale: 3));
        var whole = Activation16("whole", type, (float[])values.Clone(), rows, columns);
        float[] expectedSlice = Enumerable.Range(0, rows * width).Select(i => values[i / width * columns + start + i % width]).ToArray();

        var part = Zeros("part", type, rows, width);
        Backend.SliceColumns(whole, start, part);
        AssertSameBits(Widened(part), expectedSlice, "slice");

        // A float32 prefix sliced into 16-bit keys rounds each value once.
        float[] wide = Normal(rng, rows * columns, scale: 3);
        var narrowed = Zeros("narrowed", type, rows, width);
        Backend.SliceColumns(F32("prefix", wide, rows, columns), start, narrowed);
        AssertSameBits(Widened(narrowed),
            Rounded(type, Enumerable.Range(0, rows * width).Select(i => wide[i / width * columns + start + i % width]).ToArray()), "narrowing slice");

        var gathered = Zeros("gathered", type, 3, columns);
        Backend.GatherRows(whole, I32("rows", [4, 0, 4], 3), gathered);
        AssertSameBits(Widened(gathered), [.. values.AsSpan(4 * columns, columns), .. values.AsSpan(0, columns), .. values.AsSpan(4 * columns, columns)],
            "gather");

        // KvAppend writes (B, T, KVH, D) rows at the past length and leaves the other slots alone.
        const int batch = 2, length = 2, capacity = 5, kvHeads = 1, headDim = 3, past = 2;
        float[] keys = Rounded(type, Normal(rng, batch * length * headDim));
        var keyCache = Zeros("key_cache", type, batch, capacity, kvHeads, headDim);
        var valueCache = Zeros("value_cache", type, batch, capacity, kvHeads, headDim);
        Backend.KvAppend(Activation16("keys", type, (float[])keys.Clone(), batch, length, kvHeads, headDim),
            Activation16("values", type, keys.Select(x => -x).ToArray(), batch, length, kvHeads, headDim), keyCache, valueCache, past);
        float[] expectedKeys = new float[batch * capacity * headDim], expectedValues = new float[batch * capacity * headDim];
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < length * headDim; i++)
            {
                expectedKeys[(b * capacity + past) * headDim + i] = keys[b * length * headDim + i];
                expectedValues[(b * capacity + past) * headDim + i] = -keys[b * length * headDim + i];
            }
        AssertSameBits(Widened(keyCache), expectedKeys, "kv_append keys");
        AssertSameBits(Widened(valueCache), expectedValues, "kv_append values");

        float[] table = Normal(rng, 6 * columns);
        var tableT = Weight("table", DType.F32, table, 6, columns);
        var embedded = Activation16("embedded", type, (float[])values.Clone(), rows, columns);
        Backend.Embedding(tableT, I32("ids", [5, 1, 0, 1, 2], rows), embedded, accumulate: true);
        int[] ids = [5, 1, 0, 1, 2];
        AssertSameBits(Widened(embedded),
            Rounded(type, Enumerable.Range(0, rows * columns).Select(i => values[i] + table[ids[i / columns] * columns + i % columns]).ToArray()),
            "embedding, accumulated");
    }

    [Test]
    public void AnOpRefusesActivationsOfTwoDtypes()
    {
        var x = Activation16("x16", DType.BF16, new float[6], 2, 3);
        AssertNamesTensor(() => Backend.Add(x, F32("y32", new float[6], 2, 3)), "y32");
        AssertNamesTensor(() => Backend.LayerNorm(x, Weight("g", DType.F32, [1, 1, 1], 3), null, 1e-5f, Zeros("out16", DType.F16, 2, 3)), "out16");
    }
}
