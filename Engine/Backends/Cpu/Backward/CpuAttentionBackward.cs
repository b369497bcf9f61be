using System.Buffers;
using System.Numerics.Tensors;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu.Backward;

/// <summary>
/// The backward of <see cref="CpuAttention"/>, in two passes like FlashAttention-2's, so no T×Tc matrix is stored and
/// every gradient element is written by exactly one task in a fixed order (bit-identical results however the work is
/// scheduled). With P the softmax weights, O the output and dO its gradient, per query row δ = rowsum(dO ⊙ O) and
/// dS = P ⊙ (dO·Vᵀ − δ):
/// 1. one task per (batch, head): recompute a query's scores, keep its softmax statistics (max, 1/sum) and δ, and
///    write dQ = scale·dS·K;
/// 2. one task per (batch, KV head, cache slot): recompute the weights of every query (of every head of the group)
///    that attends the slot from those statistics, and add dV += Pᵀ·dO and dK += scale·dSᵀ·Q.
/// Scores and weights are formed exactly as the forward forms them (same dot products, exp(s − max)·(1/sum)), so both
/// passes see the same P; a NaN or an all −∞ row gives NaN gradients, as it gives a NaN output.
/// </summary>
internal static unsafe class CpuAttentionBackward
{
    /// <summary>
    /// q, output, outputGrad, qGrad (B, T, H, D); keyCache, valueCache, keyGrad, valueGrad (B, Tc, KVH, D); keyMask
    /// (B, Tc) I32. qGrad =, keyGrad and valueGrad +=.
    /// </summary>
    public static void Run(Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength, float scale, int window,
        Tensor output, Tensor outputGrad, Tensor qGrad, Tensor keyGrad, Tensor valueGrad)
    {
        int batch = q.Shape[0], length = q.Shape[1], heads = q.Shape[2], headDim = q.Shape[3];
        int capacity = keyCache.Shape[1], kvHeads = keyCache.Shape[2];
        int group = heads / kvHeads, filled = pastLength + length;
        float* qp = (float*)q.Address, kp = (float*)keyCache.Address, vp = (float*)valueCache.Address;
        float* op = (float*)output.Address, dop = (float*)outputGrad.Address, dqp = (float*)qGrad.Address;
        float* dkp = (float*)keyGrad.Address, dvp = (float*)valueGrad.Address;
        int* mask = (int*)keyMask.Address;
        long queries = (long)batch * length * heads;

        // Per query (b, t, h): the softmax max, 1/sum (0 for a query with nothing to attend) and δ. (3·B·T·H)
        float[] stats = ArrayPool<float>.Shared.Rent((int)(3 * queries));
        try
        {
            CpuParallel.For((long)batch * heads, 1, (start, end) =>
            {
                float[] scores = ArrayPool<float>.Shared.Rent(filled);
                try
                {
                    for (long task = start; task < end; task++)
                    {
                        int b = (int)(task / heads), h = (int)(task % heads), kvh = h / group;
                        int* rowMask = mask + (long)b * capacity;
                        for (int t = 0; t < length; t++)
                        {
                            long row = ((long)b * length + t) * heads + h;
                            var query = new ReadOnlySpan<float>(qp + row * headDim, headDim);
                            var dOut = new ReadOnlySpan<float>(dop + row * headDim, headDim);
                            var dq = new Span<float>(dqp + row * headDim, headDim);
                            dq.Clear();
                            int keys = pastLength + t + 1, first = FirstKey(keys, window);
                            float max = float.NegativeInfinity;
                            int attended = 0;
                            for (int j = first; j < keys; j++)
                            {
                                if (rowMask[j] == 0) continue;
                                float s = scale * TensorPrimitives.Dot(query, Row(kp, b, j, kvh, capacity, kvHeads, headDim));
                                scores[j] = s;
                                max = MathF.Max(max, s); // keeps a NaN, as the forward does
                                attended++;
                            }
                            stats[3 * row] = max;
                            stats[3 * row + 1] = 0;
                            stats[3 * row + 2] = 0;
                            if (attended == 0) continue; // a padding query: its output is 0 whatever q is
                            float sum = 0;
                            for (int j = first; j < keys; j++)
                            {
                                if (rowMask[j] == 0) continue;
                                scores[j] = MathF.Exp(scores[j] - max);
                                sum += scores[j];
                            }
                            float inverse = 1f / sum;
                            float delta = TensorPrimitives.Dot(dOut, new ReadOnlySpan<float>(op + row * headDim, headDim));
                            stats[3 * row + 1] = inverse;
                            stats[3 * row + 2] = delta;
                            for (int j = first; j < keys; j++)
                            {
                                if (rowMask[j] == 0) continue;
                                float p = scores[j] * inverse;
                                float dp = TensorPrimitives.Dot(dOut, Row(vp, b, j, kvh, capacity, kvHeads, headDim));
                                TensorPrimitives.MultiplyAdd(Row(kp, b, j, kvh, capacity, kvHeads, headDim), p * (dp - delta), dq, dq);
                            }
                            TensorPrimitives.Multiply(dq, scale, dq);
                        }
                    }
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(scores);
                }
            });

            CpuParallel.For((long)batch * kvHeads * filled, 4, (start, end) =>
            {
                for (long task = start; task < end; task++)
                {
                    int j = (int)(task % filled), kvh = (int)(task / filled % kvHeads), b = (int)(task / filled / kvHeads);
                    if (mask[(long)b * capacity + j] == 0) continue; // never attended: no gradient
                    var key = Row(kp, b, j, kvh, capacity, kvHeads, headDim);
                    var value = Row(vp, b, j, kvh, capacity, kvHeads, headDim);
                    long slot = ((long)b * capacity + j) * kvHeads + kvh;
                    var dk = new Span<float>(dkp + slot * headDim, headDim);
                    var dv = new Span<float>(dvp + slot * headDim, headDim);
                    // Queries at cache positions i = pastLength + t with j ≤ i and, with a window, i − j < window.
                    int firstQuery = Math.Max(0, j - pastLength);
                    int lastQuery = window > 0 ? Math.Min(length, j + window - pastLength) : length;
                    for (int t = firstQuery; t < lastQuery; t++)
                        for (int h = kvh * group; h < (kvh + 1) * group; h++)
                        {
                            long row = ((long)b * length + t) * heads + h;
                            var query = new ReadOnlySpan<float>(qp + row * headDim, headDim);
                            var dOut = new ReadOnlySpan<float>(dop + row * headDim, headDim);
                            float s = scale * TensorPrimitives.Dot(query, key);
                            float p = MathF.Exp(s - stats[3 * row]) * stats[3 * row + 1];
                            float dp = TensorPrimitives.Dot(dOut, value);
                            TensorPrimitives.MultiplyAdd(dOut, p, dv, dv);
                            TensorPrimitives.MultiplyAdd(query, scale * p * (dp - stats[3 * row + 2]), dk, dk);
                        }
                }
            });
        }
        finally
        {
            ArrayPool<float>.Shared.Return(stats);
        }
    }

    /// <summary>The first key a query attends when <paramref name="keys"/> = its position + 1: the window's start, or 0.</summary>
    private static int FirstKey(int keys, int window) => window > 0 ? Math.Max(0, keys - window) : 0;

    /// <summary>Row (b, j, kvh) of a cache (B, Tc, KVH, D).</summary>
    private static ReadOnlySpan<float> Row(float* cache, int b, int j, int kvh, int capacity, int kvHeads, int headDim) =>
        new(cache + (((long)b * capacity + j) * kvHeads + kvh) * headDim, headDim);
}
