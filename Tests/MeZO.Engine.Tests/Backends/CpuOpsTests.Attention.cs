using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends;

/// <summary>
/// Causal attention over a KV cache with a key padding mask and an optional sliding window (the semantics documented
/// on IBackend.Attention), against a double-precision softmax written from that documentation.
/// </summary>
public sealed partial class CpuOpsTests
{
    /// <summary>How a batch row's key mask is laid out.</summary>

    [TestCase(1, 1, 1, 1, 1, 0, 1, Padding.None, 0)]       // the smallest case: one key, one head
    [TestCase(2, 17, 8, 2, 16, 0, 17, Padding.Left, 0)]    // GQA 8/2, left-padded row 1
    [TestCase(2, 17, 8, 2, 16, 0, 20, Padding.Right, 0)]   // GQA, right padding, spare cache capacity
    [TestCase(1, 129, 1, 1, 3, 0, 129, Padding.None, 0)]   // one head, long sequence
    [TestCase(2, 1, 4, 1, 8, 5, 9, Padding.Left, 0)]       // a decode step after 5 cached positions, multi-query
    [TestCase(2, 3, 4, 4, 5, 6, 12, Padding.Middle, 0)]    // 3 new positions after 6 cached, a masked hole in the past
    [TestCase(3, 3, 6, 3, 17, 2, 5, Padding.Right, 0)]     // GQA 6/3, head width 17
    // Sliding windows: query position i attends keys j with i − j < window.
    [TestCase(2, 17, 8, 2, 16, 0, 17, Padding.Left, 5)]    // shorter than the sequence, GQA, left padding
    [TestCase(2, 17, 8, 2, 16, 0, 20, Padding.Right, 17)]  // exactly the sequence, right padding
    [TestCase(3, 3, 6, 3, 17, 2, 5, Padding.Right, 200)]   // longer than the cache: full causal attention
    [TestCase(1, 129, 1, 1, 3, 0, 129, Padding.None, 33)]  // a long sequence
    [TestCase(2, 4, 2, 1, 3, 0, 4, Padding.None, 1)]       // each query attends only itself
    [TestCase(2, 1, 4, 1, 8, 5, 9, Padding.Left, 3)]       // a decode step: the last 3 cached keys
    [TestCase(2, 3, 4, 4, 5, 6, 12, Padding.Middle, 4)]    // a masked hole counts as a position inside the window
    public void AttentionMatchesTheDoubleReference(int batch, int length, int heads, int kvHeads, int headDim, int past,
        int capacity, Padding padding, int window)
    {
        var rng = new Random(length * 7 + heads + past);
        float[] q = Normal(rng, batch * length * heads * headDim);
        float[] keys = Normal(rng, batch * capacity * kvHeads * headDim);
        float[] values = Normal(rng, batch * capacity * kvHeads * headDim);
        int[] mask = KeyMask(batch, past + length, capacity, padding);
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < capacity; j++)
                for (int e = 0; e < kvHeads * headDim; e++)
                {
                    int i = (b * capacity + j) * kvHeads * headDim + e;
                    if (j >= past + length) keys[i] = values[i] = float.NaN; // never written: must never be read
                    else if (mask[b * capacity + j] == 0) { keys[i] = 50f; values[i] = 1000f; } // would dominate if attended
                }
        float scale = 1f / MathF.Sqrt(headDim);
        var output = Zeros("attn_out", DType.F32, batch, length, heads, headDim);

        Backend.Attention(F32("q", q, batch, length, heads, headDim), F32("k_cache", keys, batch, capacity, kvHeads, headDim),
            F32("v_cache", values, batch, capacity, kvHeads, headDim), I32("key_mask", mask, batch, capacity), past, scale, window, output);

        var (expected, tolerance) = AttentionReference(q, keys, values, mask, batch, length, heads, kvHeads, headDim, past, capacity,
            scale, window);
        AssertClose(ReadF32(output), expected, i => tolerance[i], "Attention");
    }

    [Test]
    public void AttentionQueryWithNothingToAttendGetsZeros()
    {
        // Row 0 is left-padded by 2: its queries 0 and 1 see only masked keys. Row 1 is fully padded.
        const int batch = 2, length = 4, heads = 2, headDim = 3;
        var rng = new Random(3);
        int[] mask = [0, 0, 1, 1, 0, 0, 0, 0];
        var output = F32("attn_out", Normal(rng, batch * length * heads * headDim), batch, length, heads, headDim); // stale data

        Backend.Attention(F32("q", Normal(rng, batch * length * heads * headDim), batch, length, heads, headDim),
            F32("k_cache", Normal(rng, batch * length * heads * headDim), batch, length, heads, headDim),
            F32("v_cache", Normal(rng, batch * length * heads * headDim), batch, length, heads, headDim),
            I32("key_mask", mask, batch, length), 0, 0.5f, 0, output);

        float[] actual = ReadF32(output);
        int rowWidth = heads * headDim;
        foreach (int query in new[] { 0, 1, 4, 5, 6, 7 }) // (b, t) = (0, 0), (0, 1) and all of row 1
            Assert.That(actual.AsSpan(query * rowWidth, rowWidth).ToArray(), Is.All.EqualTo(0f), $"query row {query} must be zeros");
        Assert.That(actual.AsSpan(2 * rowWidth, 2 * rowWidth).ToArray(), Has.Some.Not.EqualTo(0f), "real queries attend");
    }

    [Test]
    public void AttentionAndKvAppendRejectMismatchedShapes()
    {
        var q = F32("q", new float[1 * 2 * 4 * 3], 1, 2, 4, 3);
        var keyCache = F32("k_cache", new float[1 * 4 * 2 * 3], 1, 4, 2, 3);
        var valueCache = F32("v_cache", new float[1 * 4 * 2 * 3], 1, 4, 2, 3);
        var mask = I32("key_mask", [1, 1, 1, 1], 1, 4);
        var output = Zeros("attn_out", DType.F32, 1, 2, 4, 3);
        AssertNamesTensor(() => Backend.Attention(q, keyCache, valueCache, I32("short_mask", [1, 1, 1], 1, 3), 0, 1f, 0, output), "short_mask");
        AssertNamesTensor(() => Backend.Attention(q, keyCache, valueCache, mask, 0, 1f, 0, Zeros("bad_out", DType.F32, 1, 2, 4, 2)), "bad_out");
        AssertNamesTensor(() => Backend.Attention(q, F32("k3_cache", new float[1 * 4 * 3 * 3], 1, 4, 3, 3),
            F32("v3_cache", new float[1 * 4 * 3 * 3], 1, 4, 3, 3), mask, 0, 1f, 0, output), "k3_cache"); // 4 heads over 3 KV heads
        AssertNamesTensor(() => Backend.Attention(q, keyCache, valueCache, mask, 3, 1f, 0, output), "k_cache"); // 3 + 2 > 4
        AssertNamesTensor(() => Backend.Attention(q, keyCache, F32("v_small", new float[1 * 3 * 2 * 3], 1, 3, 2, 3), mask, 0, 1f, 0, output), "v_small");

        var keys = F32("k", new float[1 * 2 * 2 * 3], 1, 2, 2, 3);
        var values = F32("v", new float[1 * 2 * 2 * 3], 1, 2, 2, 3);
        AssertNamesTensor(() => Backend.KvAppend(keys, values, keyCache, valueCache, 3), "k_cache");
        AssertNamesTensor(() => Backend.KvAppend(keys, F32("v_long", new float[1 * 3 * 2 * 3], 1, 3, 2, 3), keyCache, valueCache, 0), "v_long");
        AssertNamesTensor(() => Backend.KvAppend(F32("k_wide", new float[1 * 2 * 2 * 4], 1, 2, 2, 4),
            F32("v_wide", new float[1 * 2 * 2 * 4], 1, 2, 2, 4), keyCache, valueCache, 0), "k_wide");
    }


    /// <summary>
    /// Softmax attention in double straight from IBackend.Attention's documentation; also a per-element tolerance.
    /// </summary>
    private static (double[] Expected, double[] Tolerance) AttentionReference(float[] q, float[] keys, float[] values, int[] mask,
        int batch, int length, int heads, int kvHeads, int headDim, int past, int capacity, float scale, int window)
    {
        double[] expected = new double[q.Length], tolerance = new double[q.Length];
        int group = heads / kvHeads;
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
                for (int h = 0; h < heads; h++)
                {
                    int o = ((b * length + t) * heads + h) * headDim;
                    int position = past + t;
                    var attended = Enumerable.Range(0, position + 1)
                        .Where(j => mask[b * capacity + j] != 0 && (window <= 0 || position - j < window)).ToArray();
                    if (attended.Length == 0) continue; // a padding query: zeros
                    int KeyOffset(int j) => ((b * capacity + j) * kvHeads + h / group) * headDim;
                    double[] scores = new double[attended.Length];
                    double dotScale = 0, maxScore = double.NegativeInfinity, maxValue = 0;
                    for (int a = 0; a < attended.Length; a++)
                    {
                        double dot = 0, absDot = 0;
                        for (int e = 0; e < headDim; e++)
                        {
                            dot += (double)q[o + e] * keys[KeyOffset(attended[a]) + e];
                            absDot += Math.Abs((double)q[o + e] * keys[KeyOffset(attended[a]) + e]);
                        }
                        scores[a] = scale * dot;
                        maxScore = Math.Max(maxScore, scores[a]);
                        dotScale = Math.Max(dotScale, scale * absDot);
                        for (int e = 0; e < headDim; e++) maxValue = Math.Max(maxValue, Math.Abs(values[KeyOffset(attended[a]) + e]));
                    }
                    double sum = scores.Sum(s => Math.Exp(s - maxScore));
                    for (int a = 0; a < attended.Length; a++)
                    {
                        double p = Math.Exp(scores[a] - maxScore) / sum;
                        for (int e = 0; e < headDim; e++) expected[o + e] += p * values[KeyOffset(attended[a]) + e];
                    }
                    // A float32 dot product of headDim terms is off by ≤ headDim·2⁻²⁴·Σ|q·k|; a score error δ changes the
                    // weights by ≈ 2δ in relative terms, so the output by ≈ 2δ·max|v|. The weighted sum over the keys
                    // adds (keys + 4)·2⁻²⁴·max|v|.
                    double scoreError = (headDim + 2) * Ulp32 * dotScale;
                    double bound = (2 * scoreError + (attended.Length + 4) * Ulp32) * maxValue;
                    for (int e = 0; e < headDim; e++) tolerance[o + e] = bound;
                }
        return (expected, tolerance);
    }
}
