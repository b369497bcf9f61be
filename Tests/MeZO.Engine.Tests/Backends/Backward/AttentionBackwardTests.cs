using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cpu.Backward;
using MeZO.Engine.Tensors;
using MeZO.Tests.Common;
using NUnit.Framework;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Engine.Tests.Backends.Backward;

/// <summary>
/// <see cref="CpuAttentionBackward"/> against central finite differences of a naive double-precision attention written
/// here from IBackend.Attention's documentation: for the loss L = Σ r·output with random r, every element of dq, dk
/// and dv is compared with (L(θ + h) − L(θ − h)) / 2h, on awkward shapes (GQA, multi-query, a KV cache, padding on
/// either side, sliding windows, head widths 8 and 80).
/// </summary>
[TestFixture]
public sealed class AttentionBackwardTests : CpuTensorTests
{
    /// <summary>How a batch row's key mask is laid out (row 0 is never padded).</summary>

    /// <summary>
    /// The finite-difference step. L is smooth with O(1) derivatives for unit-normal inputs, so the central
    /// difference's truncation error is ≈ h²/6·|L‴| ≈ 1e-9, and its rounding error in double ≈ 2⁻⁵³·|L|/h ≈ 1e-11:
    /// both far below the float32 error the tolerance has to cover, so the difference stands in for the exact gradient.
    /// </summary>
    private const double Step = 1e-4;

    [TestCase(1, 1, 1, 1, 8, 0, 1, Padding.None, 0)]       // the smallest case: one query, one key
    [TestCase(2, 3, 4, 2, 8, 0, 3, Padding.Left, 0)]       // GQA 4/2, left padding: row 1's first query attends nothing
    [TestCase(2, 17, 4, 1, 8, 0, 20, Padding.Right, 0)]    // multi-query, right padding, spare cache capacity
    [TestCase(2, 3, 4, 2, 8, 5, 10, Padding.Left, 0)]      // 3 new positions after 5 cached
    [TestCase(2, 1, 4, 1, 8, 5, 9, Padding.Right, 3)]      // a decode step over the last 3 slots, multi-query
    [TestCase(2, 17, 4, 2, 8, 0, 17, Padding.Left, 5)]     // a sliding window shorter than the sequence
    [TestCase(2, 3, 4, 2, 80, 6, 12, Padding.Middle, 4)]   // head width 80, cache, window, a masked hole in the past
    public void GradientsMatchFiniteDifferences(int batch, int length, int heads, int kvHeads, int headDim, int past, int capacity,
        Padding padding, int window) =>
        CheckAgainstFiniteDifferences(batch, length, heads, kvHeads, headDim, past, capacity, padding, window);

    [TestCase(1, 17, 4, 2, 80, 0, 17, Padding.None, 0)]    // head width 80 over 17 positions
    [TestCase(2, 17, 4, 1, 80, 3, 24, Padding.Left, 7)]    // multi-query, cache, window and padding at width 80
    [Category(TestSpeed.Slow)]
    public void WideHeadGradientsMatchFiniteDifferences(int batch, int length, int heads, int kvHeads, int headDim, int past,
        int capacity, Padding padding, int window) =>
        CheckAgainstFiniteDifferences(batch, length, heads, kvHeads, headDim, past, capacity, padding, window);

    [Test]
    public void QueryWithNothingToAttendGetsZeroGradient()
    {
        // Row 0 is left-padded by 2: its queries 0 and 1 see only masked keys. Row 1 is fully padded.
        const int batch = 2, length = 4, heads = 2, headDim = 3;
        var rng = new Random(3);
        var p = Problem.Random(rng, batch, length, heads, heads, headDim, 0, length, [0, 0, 1, 1, 0, 0, 0, 0], 0.5f, 0);
        var (qGrad, keyGrad, valueGrad) = Backward(p, keyGradStart: null);

        int rowWidth = heads * headDim;
        foreach (int query in new[] { 0, 1, 4, 5, 6, 7 }) // (b, t) = (0, 0), (0, 1) and all of row 1
            Assert.That(qGrad.AsSpan(query * rowWidth, rowWidth).ToArray(), Is.All.EqualTo(0f), $"dq of padding query {query}");
        foreach (int slot in new[] { 0, 1, 4, 5, 6, 7 }) // masked slots are never attended
        {
            Assert.That(keyGrad.AsSpan(slot * rowWidth, rowWidth).ToArray(), Is.All.EqualTo(0f), $"dk of masked slot {slot}");
            Assert.That(valueGrad.AsSpan(slot * rowWidth, rowWidth).ToArray(), Is.All.EqualTo(0f), $"dv of masked slot {slot}");
        }
        Assert.That(qGrad.AsSpan(2 * rowWidth, 2 * rowWidth).ToArray(), Has.Some.Not.EqualTo(0f), "real queries have a gradient");
    }

    [Test]
    public void KeyAndValueGradientsAreAddedToWhatTheyHold()
    {
        const int batch = 2, length = 5, heads = 4, kvHeads = 2, headDim = 8, past = 2, capacity = 9;
        var rng = new Random(11);
        int[] mask = KeyMask(batch, past + length, capacity, Padding.Left);
        var p = Problem.Random(rng, batch, length, heads, kvHeads, headDim, past, capacity, mask, 1f / MathF.Sqrt(headDim), 0);
        float[] start = Normal(rng, batch * capacity * kvHeads * headDim);

        var (_, fresh, freshValues) = Backward(p, keyGradStart: null);
        var (_, added, addedValues) = Backward(p, keyGradStart: start);

        // An attended slot sums start + c₁ + … + cₙ over at most n = length·group queries, each addition rounding by
        // 2⁻²⁴ of the running sum, which is at most |start| + n·max|c| (max|c| ≤ max|fresh| up to the same rounding).
        int n = length * heads / kvHeads;
        double scale = Math.Max(fresh.Max(Math.Abs), freshValues.Max(Math.Abs));
        for (int i = 0; i < start.Length; i++)
        {
            double tolerance = 2 * (n + 1) * Ulp32 * (Math.Abs(start[i]) + n * scale);
            Assert.That(added[i], Is.EqualTo(start[i] + fresh[i]).Within(tolerance), $"keyGrad[{i}] adds to what it held");
            Assert.That(addedValues[i], Is.EqualTo(start[i] + freshValues[i]).Within(tolerance), $"valueGrad[{i}] adds to what it held");
            if (fresh[i] == 0 && freshValues[i] == 0) // a slot never attended keeps its bits
                Assert.That(added[i], Is.EqualTo(start[i]), $"keyGrad[{i}] of an unattended slot is untouched");
        }
        Assert.That(fresh.Count(v => v != 0), Is.GreaterThan(fresh.Length / 2), "most slots are attended");
    }

    [Test]
    public void TwoRunsGiveIdenticalBits()
    {
        const int batch = 2, length = 33, heads = 8, kvHeads = 2, headDim = 24, past = 4, capacity = 40;
        var rng = new Random(5);
        int[] mask = KeyMask(batch, past + length, capacity, Padding.Left);
        var p = Problem.Random(rng, batch, length, heads, kvHeads, headDim, past, capacity, mask, 1f / MathF.Sqrt(headDim), 9);

        var first = Backward(p, keyGradStart: null);
        var second = Backward(p, keyGradStart: null);

        Assert.That(Bits(second.QGrad), Is.EqualTo(Bits(first.QGrad)), "dq");
        Assert.That(Bits(second.KeyGrad), Is.EqualTo(Bits(first.KeyGrad)), "dk");
        Assert.That(Bits(second.ValueGrad), Is.EqualTo(Bits(first.ValueGrad)), "dv");
    }

    [Test]
    public void ContractRejectsMismatchedShapes()
    {
        Tensor Q(string name, int d = 3) => Zeros(name, DType.F32, 1, 2, 4, d);
        Tensor Cache(string name, int tc = 4, int kvh = 2) => Zeros(name, DType.F32, 1, tc, kvh, 3);
        var mask = Zeros("key_mask", DType.I32, 1, 4);
        void Call(Tensor? q = null, Tensor? k = null, Tensor? v = null, Tensor? m = null, int past = 0, Tensor? o = null,
            Tensor? dO = null, Tensor? dq = null, Tensor? dk = null, Tensor? dv = null) =>
            BackwardContracts.Attention(Backend, q ?? Q("q"), k ?? Cache("k_cache"), v ?? Cache("v_cache"), m ?? mask, past,
                o ?? Q("attn_out"), dO ?? Q("attn_out_grad"), dq ?? Q("q_grad"), dk ?? Cache("k_grad"), dv ?? Cache("v_grad"));

        Assert.DoesNotThrow(() => Call(), "matching shapes pass");
        AssertNamesTensor(() => Call(dq: Q("wide_q_grad", 4)), "wide_q_grad");
        AssertNamesTensor(() => Call(dO: Q("wide_out_grad", 4)), "wide_out_grad");
        AssertNamesTensor(() => Call(o: Q("wide_out", 4)), "wide_out");
        AssertNamesTensor(() => Call(dk: Cache("short_k_grad", tc: 3)), "short_k_grad");
        AssertNamesTensor(() => Call(dv: Zeros("int_v_grad", DType.I32, 1, 4, 2, 3)), "int_v_grad");
        AssertNamesTensor(() => Call(m: Zeros("short_mask", DType.I32, 1, 3)), "short_mask");
        AssertNamesTensor(() => Call(k: Cache("k3_cache", kvh: 3), v: Cache("v3_cache", kvh: 3), dk: Cache("k3_grad", kvh: 3),
            dv: Cache("v3_grad", kvh: 3)), "k3_cache"); // 4 heads over 3 KV heads
        AssertNamesTensor(() => Call(past: 3), "k_cache"); // 3 cached + 2 new > 4 slots
    }

    private void CheckAgainstFiniteDifferences(int batch, int length, int heads, int kvHeads, int headDim, int past, int capacity,
        Padding padding, int window)
    {
        var rng = new Random(length * 7 + heads + past + headDim);
        int[] mask = KeyMask(batch, past + length, capacity, padding);
        var p = Problem.Random(rng, batch, length, heads, kvHeads, headDim, past, capacity, mask, 1f / MathF.Sqrt(headDim), window);
        var (qGrad, keyGrad, valueGrad) = Backward(p, keyGradStart: null);

        double[] q = p.Q.Select(v => (double)v).ToArray();
        double[] keys = p.Keys.Select(v => (double)v).ToArray();
        double[] values = p.Values.Select(v => (double)v).ToArray();
        int group = heads / kvHeads, filled = past + length;

        double[] qExpected = new double[q.Length];
        for (int i = 0; i < q.Length; i++)
        {
            int row = i / headDim, h = row % heads, t = row / heads % length, b = row / heads / length;
            qExpected[i] = Difference(q, i, () => p.QueryLoss(q, keys, values, b, t, h));
        }
        double[] keyExpected = new double[keys.Length], valueExpected = new double[values.Length];
        for (int i = 0; i < keys.Length; i++)
        {
            int slot = i / headDim, kvh = slot % kvHeads, j = slot / kvHeads % capacity, b = slot / kvHeads / capacity;
            if (j >= filled) continue; // never written (NaN): must be neither read nor given a gradient
            double SlotLoss()
            {
                double loss = 0;
                for (int t = Math.Max(0, j - past); t < length; t++)
                    for (int h = kvh * group; h < (kvh + 1) * group; h++) loss += p.QueryLoss(q, keys, values, b, t, h);
                return loss;
            }
            keyExpected[i] = Difference(keys, i, SlotLoss);
            valueExpected[i] = Difference(values, i, SlotLoss);
        }

        // Every float32 path sums at most (slots + D) terms of O(1) size (unit-normal inputs, scale 1/√D, weights ≤ 1),
        // each rounding by 2⁻²⁴; the chain score → exp → normalise → dS → gradient adds a few such errors, and dS's
        // difference dP − δ can cancel, so the bound is taken relative to the largest gradient of the tensor plus 1
        // (absolute, for elements near 0), with a factor 8 of headroom. A wrong term (a missing scale, a transposed
        // GQA mapping, an off-by-one window) moves gradients by O(0.1), orders of magnitude above it.
        double Tolerance(double[] expected) => 8 * (filled * group + headDim) * Ulp32 * (1 + expected.Max(Math.Abs));
        AssertClose(qGrad, qExpected, Tolerance(qExpected), "dq");
        AssertClose(keyGrad, keyExpected, Tolerance(keyExpected), "dk");
        AssertClose(valueGrad, valueExpected, Tolerance(valueExpected), "dv");
        // dq can be 0 throughout (a query with one key outputs that value whatever q is), but every attended value has
        // a gradient, so the comparison is never between zeros only.
        Assert.That(valueExpected.Count(v => v != 0), Is.GreaterThan(0), "the check is not vacuous");
    }

    /// <summary>(L(θᵢ + h) − L(θᵢ − h)) / 2h, restoring θᵢ.</summary>
    private static double Difference(double[] theta, int i, Func<double> loss)
    {
        double saved = theta[i];
        theta[i] = saved + Step;
        double plus = loss();
        theta[i] = saved - Step;
        double minus = loss();
        theta[i] = saved;
        return (plus - minus) / (2 * Step);
    }

    /// <summary>
    /// Runs the engine's forward attention, then its backward with dO = r; dq starts as NaN (it must be overwritten),
    /// dk and dv as <paramref name="keyGradStart"/> or zeros.
    /// </summary>
    private (float[] QGrad, float[] KeyGrad, float[] ValueGrad) Backward(Problem p, float[]? keyGradStart)
    {
        int[] qShape = [p.Batch, p.Length, p.Heads, p.HeadDim], cacheShape = [p.Batch, p.Capacity, p.KvHeads, p.HeadDim];
        var q = F32("q", p.Q, qShape);
        var keyCache = F32("k_cache", p.Keys, cacheShape);
        var valueCache = F32("v_cache", p.Values, cacheShape);
        var keyMask = I32("key_mask", p.Mask, p.Batch, p.Capacity);
        var output = Zeros("attn_out", DType.F32, qShape);
        Backend.Attention(q, keyCache, valueCache, keyMask, p.Past, p.Scale, p.Window, output);

        var outputGrad = F32("attn_out_grad", p.R, qShape);
        var qGrad = F32("q_grad", Enumerable.Repeat(float.NaN, p.Q.Length).ToArray(), qShape);
        float[] start = keyGradStart ?? new float[p.Keys.Length];
        var keyGrad = F32("k_grad", start, cacheShape);
        var valueGrad = F32("v_grad", start, cacheShape);
        Backend.AttentionBackward(q, keyCache, valueCache, keyMask, p.Past, p.Scale, p.Window, output, outputGrad, qGrad, keyGrad,
            valueGrad);
        return (ReadF32(qGrad), ReadF32(keyGrad), ReadF32(valueGrad));
    }

    /// <summary>An attention problem: inputs, the loss weights r, and the naive double-precision loss of one query.</summary>
    private sealed record Problem(int Batch, int Length, int Heads, int KvHeads, int HeadDim, int Past, int Capacity, int[] Mask,
        float Scale, int Window, float[] Q, float[] Keys, float[] Values, float[] R)
    {
        public static Problem Random(Random rng, int batch, int length, int heads, int kvHeads, int headDim, int past, int capacity,
            int[] mask, float scale, int window)
        {
            float[] q = Normal(rng, batch * length * heads * headDim);
            float[] keys = Normal(rng, batch * capacity * kvHeads * headDim);
            float[] values = Normal(rng, batch * capacity * kvHeads * headDim);
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < capacity; j++)
                    for (int e = 0; e < kvHeads * headDim; e++)
                    {
                        int i = (b * capacity + j) * kvHeads * headDim + e;
                        if (j >= past + length) keys[i] = values[i] = float.NaN; // never written: must never be read
                        else if (mask[b * capacity + j] == 0) { keys[i] = 50f; values[i] = 1000f; } // would dominate if attended
                    }
            float[] r = Normal(rng, q.Length);
            return new Problem(batch, length, heads, kvHeads, headDim, past, capacity, mask, scale, window, q, keys, values, r);
        }

        /// <summary>Σₑ r·output for query (b, t, h), softmax attention in double from IBackend.Attention's documentation.</summary>
        public double QueryLoss(double[] q, double[] keys, double[] values, int b, int t, int h)
        {
            int position = Past + t, kvh = h / (Heads / KvHeads);
            int o = ((b * Length + t) * Heads + h) * HeadDim;
            var attended = new List<int>();
            for (int j = 0; j <= position; j++)
                if (Mask[b * Capacity + j] != 0 && (Window <= 0 || position - j < Window)) attended.Add(j);
            if (attended.Count == 0) return 0; // a padding query outputs zeros
            int KeyOffset(int j) => ((b * Capacity + j) * KvHeads + kvh) * HeadDim;
            double[] scores = new double[attended.Count];
            for (int a = 0; a < attended.Count; a++)
            {
                double dot = 0;
                for (int e = 0; e < HeadDim; e++) dot += q[o + e] * keys[KeyOffset(attended[a]) + e];
                scores[a] = Scale * dot;
            }
            double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max)), loss = 0;
            for (int a = 0; a < attended.Count; a++)
            {
                double weight = Math.Exp(scores[a] - max) / sum, rv = 0;
                for (int e = 0; e < HeadDim; e++) rv += R[o + e] * values[KeyOffset(attended[a]) + e];
                loss += weight * rv;
            }
            return loss;
        }
    }


    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    /// <summary>|actual[i] − expected[i]| ≤ tolerance for every element, naming the first failure and the largest error.</summary>
    private static void AssertClose(float[] actual, double[] expected, double tolerance, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), $"{what}: element count");
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            if (!(error <= tolerance))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R} (error {error:E3} > tolerance {tolerance:E3})");
            worst = Math.Max(worst, error);
        }
        TestContext.Out.WriteLine($"{what}: worst error {worst:E2}, tolerance {tolerance:E2}");
    }

}
