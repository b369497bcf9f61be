using System.Buffers;
using System.Numerics.Tensors;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>
/// Causal attention with a key padding mask and an optional sliding window over a KV cache. One task per (batch,
/// head): the scores of one query row live in a scratch row of cache length, so no T×T matrix is ever stored; with a
/// window, a query reads only the keys inside it.
/// </summary>
internal static unsafe class CpuAttention
{
    public static void Causal(Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength, float scale,
        int window, Tensor output)
    {
        int batch = q.Shape[0], length = q.Shape[1], heads = q.Shape[2], headDim = q.Shape[3];
        int capacity = keyCache.Shape[1], kvHeads = keyCache.Shape[2];
        int group = heads / kvHeads;
        float* qp = (float*)q.Address, kp = (float*)keyCache.Address, vp = (float*)valueCache.Address;
        float* op = (float*)output.Address;
        int* mask = (int*)keyMask.Address;

        CpuParallel.For((long)batch * heads, 1, (start, end) =>
        {
            float[] scores = ArrayPool<float>.Shared.Rent(pastLength + length);
            try
            {
                for (long task = start; task < end; task++)
                {
                    int b = (int)(task / heads), h = (int)(task % heads), kvh = h / group;
                    int* rowMask = mask + (long)b * capacity;
                    for (int t = 0; t < length; t++)
                    {
                        float* query = qp + (((long)b * length + t) * heads + h) * headDim;
                        var result = new Span<float>(op + (((long)b * length + t) * heads + h) * headDim, headDim);
                        int keys = pastLength + t + 1; // keys [first, keys): causal, and inside the window if any
                        int first = window > 0 ? Math.Max(0, keys - window) : 0;
                        float max = float.NegativeInfinity;
                        int attended = 0;
                        for (int j = first; j < keys; j++)
                        {
                            if (rowMask[j] == 0) { scores[j] = float.NegativeInfinity; continue; }
                            float* key = kp + (((long)b * capacity + j) * kvHeads + kvh) * headDim;
                            float s = scale * TensorPrimitives.Dot(new ReadOnlySpan<float>(query, headDim), new ReadOnlySpan<float>(key, headDim));
                            scores[j] = s;
                            // MathF.Max keeps a NaN score, which then makes every weight NaN; a padding query is told by
                            // its count of keys, never by its maximum, so scores that all overflowed to −∞ give NaN too.
                            max = MathF.Max(max, s);
                            attended++;
                        }
                        result.Clear();
                        if (attended == 0) continue; // nothing to attend: a padding query
                        float sum = 0;
                        for (int j = first; j < keys; j++)
                        {
                            if (rowMask[j] == 0) continue;
                            float p = MathF.Exp(scores[j] - max);
                            sum += p;
                            float* value = vp + (((long)b * capacity + j) * kvHeads + kvh) * headDim;
                            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(value, headDim), p, result, result);
                        }
                        TensorPrimitives.Multiply(result, 1f / sum, result);
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(scores);
            }
        });
    }
}
