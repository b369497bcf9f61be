using System.Buffers;
using System.Numerics.Tensors;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>Reductions over the vocabulary: log-softmax of target tokens and greedy argmax.</summary>
internal static unsafe class CpuLogits
{
    public static void LogSoftmaxGather(Tensor logits, Tensor targets, Tensor output)
    {
        int vocab = logits.Shape[-1];
        float* lp = (float*)logits.Address, op = (float*)output.Address;
        int* tp = (int*)targets.Address;
        long rows = logits.Shape.Rows;
        for (long r = 0; r < rows; r++)
            if ((uint)tp[r] >= (uint)vocab)
                throw new ArgumentException($"LogSoftmaxGather: target {tp[r]} of row {r} is outside the vocabulary ({vocab})");
        CpuParallel.For(rows, 1, (start, end) =>
        {
            float[] scratch = ArrayPool<float>.Shared.Rent(vocab);
            try
            {
                for (long r = start; r < end; r++)
                {
                    var row = new ReadOnlySpan<float>(lp + r * vocab, vocab);
                    float max = TensorPrimitives.Max(row);
                    double sum = SumOfExp(row, max, scratch);
                    op[r] = (float)(row[tp[r]] - max - Math.Log(sum));
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(scratch);
            }
        });
    }

    /// <summary>The chunk's maximum and Σ exp(x − max) in float32, as LogSoftmaxGather sums a whole row, merged into the state.</summary>
    public static void LogSoftmaxAccumulate(Tensor logits, Tensor targets, int firstColumn, Tensor state)
    {
        int width = logits.Shape[-1];
        float* lp = (float*)logits.Address, sp = (float*)state.Address;
        int* tp = (int*)targets.Address;
        CpuParallel.For(logits.Shape.Rows, 1, (start, end) =>
        {
            float[] scratch = ArrayPool<float>.Shared.Rent(Math.Max(1, width));
            try
            {
                for (long r = start; r < end; r++)
                {
                    if (width == 0) continue;
                    var row = new ReadOnlySpan<float>(lp + r * width, width);
                    float* s = sp + 3 * r;
                    float max = Math.Max(s[0], TensorPrimitives.Max(row));
                    // exp(m − m') rescales the earlier chunks' sum to the new maximum (0 before the first chunk: m = −∞).
                    s[1] = s[1] * MathF.Exp(s[0] - max) + SumOfExp(row, max, scratch);
                    s[0] = max;
                    long column = (long)tp[r] - firstColumn;
                    if (column >= 0 && column < width) s[2] = row[(int)column];
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(scratch);
            }
        });
    }

    /// <summary>Σ exp(x − max) over a row in float32, through <paramref name="scratch"/> (at least the row's length).</summary>
    private static float SumOfExp(ReadOnlySpan<float> row, float max, float[] scratch)
    {
        var shifted = scratch.AsSpan(0, row.Length);
        TensorPrimitives.Subtract(row, max, shifted);
        TensorPrimitives.Exp(shifted, shifted);
        return TensorPrimitives.Sum<float>(shifted);
    }

    public static void Argmax(Tensor logits, Tensor output)
    {
        int vocab = logits.Shape[-1];
        float* lp = (float*)logits.Address;
        int* op = (int*)output.Address;
        long rows = logits.Shape.Rows;
        for (long r = 0; r < rows; r++)
        {
            var row = new ReadOnlySpan<float>(lp + r * vocab, vocab);
            int best = 0;
            float bestValue = row[0];
            for (int j = 1; j < vocab; j++)
                if (row[j] > bestValue) { bestValue = row[j]; best = j; }
            // A NaN never compares greater, so the scan alone would pick a finite token from a broken row.
            op[r] = NonFiniteScan.FirstIndex(row) < 0 ? best : -1;
        }
    }
}
