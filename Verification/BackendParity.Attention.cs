using MeZO.Engine.Tensors;

namespace MeZO.Verification;

public static partial class BackendParity
{
    private enum Padding
    {
        None,
        /// <summary>Batch row 1 starts with two padding positions, whose queries attend nothing (zeros).</summary>
        Left,
        /// <summary>Batch row 0 ends with two padding positions.</summary>
        Right,
    }

    private static IEnumerable<ParityCase> AttentionCases()
    {
        // Window 0: full causal attention. A window (query position i attends keys j > i − window) smaller than, equal
        // to and larger than the sequence; not a multiple of the 32-key tile, so windows start inside tiles; past a
        // cached prefix and in a decoding step.
        var cases = new (int Batch, int Length, int Heads, int KvHeads, int HeadDim, int Past, Padding Padding, int Window)[]
        {
            (1, 1, 1, 1, 8, 0, Padding.None, 0),
            (2, 3, 4, 2, 16, 0, Padding.Left, 0),
            (2, 17, 4, 1, 64, 5, Padding.Right, 0),
            (1, 40, 2, 2, 80, 0, Padding.None, 0),    // several query blocks and key tiles, a width not a multiple of 32
            (2, 1, 8, 8, 128, 70, Padding.Left, 0),   // one decoding step over a long cache
            (2, 33, 2, 1, 256, 0, Padding.Left, 0),   // the widest head: 64 KiB+ of shared memory
            (1, 17, 2, 2, 16, 0, Padding.None, 4),    // a window much shorter than the sequence
            (2, 17, 4, 1, 64, 0, Padding.Left, 17),   // a window exactly the sequence (multi-query)
            (2, 9, 4, 2, 32, 0, Padding.Right, 40),   // a window longer than the sequence (GQA)
            (2, 3, 4, 2, 48, 0, Padding.Left, 1),     // each query attends only itself
            (2, 129, 4, 2, 64, 0, Padding.Left, 37),  // later query blocks start their key tiles past key 0
            (2, 40, 2, 1, 80, 30, Padding.Right, 33), // new positions after a cached prefix, windows across tiles
            (2, 1, 8, 2, 128, 70, Padding.Right, 4),  // one decoding step: the last 4 keys of a long cache, 2 of them padded in row 0
        };
        foreach (var (batch, length, heads, kvHeads, headDim, past, padding, window) in cases)
        {
            string name = $"B{batch} T{length} H{heads}/{kvHeads} D{headDim} past {past}, {padding.ToString().ToLowerInvariant()} padding" +
                          (window > 0 ? $", window {window}" : "");
            yield return new ParityCase("Attention", name, (reference, candidate) =>
            {
                int capacity = past + length + 3; // spare positions: never read
                var random = new ParityRandom(batch * 1000 + length * 10 + headDim);
                var q = random.Normal((long)batch * length * heads * headDim);
                var keys = random.Normal((long)batch * capacity * kvHeads * headDim);
                var values = random.Normal((long)batch * capacity * kvHeads * headDim);
                var mask = PaddedKeyMask(batch, capacity, past, length, padding);
                float scale = 1 / MathF.Sqrt(headDim);
                using var qPair = TensorPair.Floats(reference, candidate, q, DType.F32, "q", batch, length, heads, headDim);
                using var keyCache = TensorPair.Floats(reference, candidate, keys, DType.F32, "key cache", batch, capacity, kvHeads, headDim);
                using var valueCache = TensorPair.Floats(reference, candidate, values, DType.F32, "value cache", batch, capacity, kvHeads, headDim);
                using var maskPair = TensorPair.Ints(reference, candidate, mask, "mask", batch, capacity);
                using var output = TensorPair.Floats(reference, candidate, new float[q.Length], DType.F32, "output", batch, length, heads, headDim);
                foreach (var b in new[] { reference, candidate })
                    b.Attention(qPair.On(b), keyCache.On(b), valueCache.On(b), maskPair.On(b), past, scale, window, output.On(b));

                double tolerance = AttentionFloat32Bound(q, keys, values, batch, length, heads, kvHeads, headDim, capacity, past, scale);
                return Compare("Attention", name, HostValues.Read(output.Reference), HostValues.Read(output.Candidate), _ => tolerance);
            });
        }
    }

    /// <summary>
    /// How far two float32 attentions of the same inputs (q (B, T, H, D), caches (B, capacity, KVH, D)) may differ.
    /// Scores are float32 dot products of D terms in another order: each differs by at most 2·D·2^-24·scale·Σ|q||k|, an
    /// absolute error that exp turns into the same relative error of the softmax weights; every tile's rescaling adds a
    /// few ulps. The output is a convex combination of value rows, so its error is that relative error times max|v|.
    /// Taken over every causal key and every tile, which bounds a windowed query's fewer ones too.
    /// </summary>
    private static double AttentionFloat32Bound(float[] q, float[] keys, float[] values, int batch, int length, int heads,
        int kvHeads, int headDim, int capacity, int past, float scale)
    {
        double scoreMagnitude = 0;
        int group = heads / kvHeads;
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
                for (int h = 0; h < heads; h++)
                    for (int j = 0; j <= past + t; j++)
                    {
                        double sum = 0;
                        for (int d = 0; d < headDim; d++)
                            sum += Math.Abs(q[((b * length + t) * heads + h) * headDim + d]) *
                                   Math.Abs(keys[((b * capacity + j) * kvHeads + h / group) * headDim + d]);
                        scoreMagnitude = Math.Max(scoreMagnitude, scale * sum);
                    }
        double maxValue = values.Max(v => Math.Abs(v));
        int tiles = (past + length + 31) / 32;
        return (2.0 * headDim * F32Unit * scoreMagnitude + 4.0 * (tiles + 4) * F32Unit) * maxValue;
    }

    /// <summary>
    /// The key mask (B, capacity) of the attention cases: every slot attended, except the first past + 2 of sequence 1
    /// (left padding) or the last two real ones of sequence 0 (right padding).
    /// </summary>
    private static int[] PaddedKeyMask(int batch, int capacity, int past, int length, Padding padding)
    {
        var mask = new int[batch * capacity];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < capacity; j++)
                mask[b * capacity + j] = padding switch
                {
                    Padding.Left when b == 1 && j < past + 2 => 0,
                    Padding.Right when b == 0 && j >= past + length - 2 => 0,
                    _ => 1,
                };
        return mask;
    }
}
