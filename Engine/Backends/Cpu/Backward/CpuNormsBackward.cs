using System.Buffers;
using System.Numerics.Tensors;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu.Backward;

/// <summary>
/// The backward of LayerNorm and RMSNorm over the last axis, in three passes: each row's statistics (computed as the
/// forward computes them), then the parameter gradients (a sum over rows, split by columns: <see cref="ColumnSplit"/>),
/// then each row's input gradient. Parameter gradients come before input gradients so that an input gradient written
/// over the output gradient still leaves the parameter sums correct.
/// </summary>
internal static unsafe class CpuNormsBackward
{
    /// <summary>
    /// Of y = x̂·w + b, x̂ = (x − mean)·rstd: inputGrad = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = outputGrad·w;
    /// weightGrad += Σ_rows outputGrad·x̂; biasGrad += Σ_rows outputGrad. Shapes validated by <see cref="BackwardContracts.LayerNorm"/>.
    /// </summary>
    public static void LayerNorm(Tensor x, Tensor weight, float eps, Tensor outputGrad, Tensor inputGrad, Tensor weightGrad, Tensor? biasGrad)
    {
        int width = x.Shape[-1];
        long rows = x.Shape.Rows;
        if (rows == 0 || width == 0) return;
        float* xp = (float*)x.Address, og = (float*)outputGrad.Address, ig = (float*)inputGrad.Address;
        float* wg = (float*)weightGrad.Address, bg = biasGrad is null ? null : (float*)biasGrad.Address;
        float[] w = ArrayPool<float>.Shared.Rent(width);
        float[] mean = ArrayPool<float>.Shared.Rent(checked((int)rows));
        float[] rstd = ArrayPool<float>.Shared.Rent(checked((int)rows));
        try
        {
            CpuConvert.Load(weight.Address, weight.DType, 0, w.AsSpan(0, width));
            CpuParallel.For(rows, 32, (start, end) =>
            {
                float[] centred = ArrayPool<float>.Shared.Rent(width);
                for (long r = start; r < end; r++)
                {
                    // The forward's two passes, to the bit, so x̂ here is the x̂ the forward normalised with.
                    var row = new ReadOnlySpan<float>(xp + r * width, width);
                    float m = TensorPrimitives.Sum(row) / width;
                    TensorPrimitives.Subtract(row, m, centred.AsSpan(0, width));
                    mean[r] = m;
                    rstd[r] = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(centred.AsSpan(0, width)) / width + eps);
                }
                ArrayPool<float>.Shared.Return(centred);
            });

            ColumnSplit.For(width, rows, (c0, c1) =>
            {
                int columns = c1 - c0;
                float[] scratch = ArrayPool<float>.Shared.Rent(3 * columns);
                var xhat = scratch.AsSpan(0, columns);
                var weightSum = scratch.AsSpan(columns, columns);
                var biasSum = scratch.AsSpan(2 * columns, columns);
                weightSum.Clear();
                biasSum.Clear();
                for (long r = 0; r < rows; r++)
                {
                    var dy = new ReadOnlySpan<float>(og + r * width + c0, columns);
                    TensorPrimitives.Subtract(new ReadOnlySpan<float>(xp + r * width + c0, columns), mean[r], xhat);
                    TensorPrimitives.Multiply(xhat, rstd[r], xhat);
                    TensorPrimitives.FusedMultiplyAdd(dy, xhat, weightSum, weightSum);
                    TensorPrimitives.Add(dy, biasSum, biasSum);
                }
                // Summed from zero, then added: a second call adds exactly the same amount (accumulation is exact doubling).
                AddInto(wg + c0, weightSum);
                if (bg != null) AddInto(bg + c0, biasSum);
                ArrayPool<float>.Shared.Return(scratch);
            });

            CpuParallel.For(rows, 32, (start, end) =>
            {
                float[] rented = ArrayPool<float>.Shared.Rent(width);
                var g = rented.AsSpan(0, width);
                for (long r = start; r < end; r++)
                {
                    var dx = new Span<float>(ig + r * width, width);
                    TensorPrimitives.Multiply(new ReadOnlySpan<float>(og + r * width, width), w.AsSpan(0, width), g);
                    float meanG = TensorPrimitives.Sum<float>(g) / width;
                    TensorPrimitives.Subtract(new ReadOnlySpan<float>(xp + r * width, width), mean[r], dx);
                    TensorPrimitives.Multiply(dx, rstd[r], dx); // x̂
                    float meanGXhat = TensorPrimitives.Dot<float>(g, dx) / width;
                    TensorPrimitives.FusedMultiplyAdd(dx, -meanGXhat, g, dx);
                    TensorPrimitives.Subtract(dx, meanG, dx);
                    TensorPrimitives.Multiply(dx, rstd[r], dx);
                }
                ArrayPool<float>.Shared.Return(rented);
            });
        }
        finally
        {
            ArrayPool<float>.Shared.Return(w);
            ArrayPool<float>.Shared.Return(mean);
            ArrayPool<float>.Shared.Return(rstd);
        }
    }

    /// <summary>
    /// Of y = x·rstd·w, rstd = (mean(x²) + eps)^−½: inputGrad = rstd·(g − x·rstd²·mean(g·x)) with g = outputGrad·w;
    /// weightGrad += Σ_rows outputGrad·x·rstd. Shapes validated by <see cref="BackwardContracts.RmsNorm"/>.
    /// </summary>
    public static void RmsNorm(Tensor x, Tensor weight, float eps, Tensor outputGrad, Tensor inputGrad, Tensor weightGrad)
    {
        int width = x.Shape[-1];
        long rows = x.Shape.Rows;
        if (rows == 0 || width == 0) return;
        float* xp = (float*)x.Address, og = (float*)outputGrad.Address, ig = (float*)inputGrad.Address, wg = (float*)weightGrad.Address;
        float[] w = ArrayPool<float>.Shared.Rent(width);
        float[] rstd = ArrayPool<float>.Shared.Rent(checked((int)rows));
        try
        {
            CpuConvert.Load(weight.Address, weight.DType, 0, w.AsSpan(0, width));
            CpuParallel.For(rows, 32, (start, end) =>
            {
                for (long r = start; r < end; r++)
                    rstd[r] = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(new ReadOnlySpan<float>(xp + r * width, width)) / width + eps);
            });

            ColumnSplit.For(width, rows, (c0, c1) =>
            {
                int columns = c1 - c0;
                float[] scratch = ArrayPool<float>.Shared.Rent(2 * columns);
                var normalised = scratch.AsSpan(0, columns);
                var weightSum = scratch.AsSpan(columns, columns);
                weightSum.Clear();
                for (long r = 0; r < rows; r++)
                {
                    TensorPrimitives.Multiply(new ReadOnlySpan<float>(xp + r * width + c0, columns), rstd[r], normalised);
                    TensorPrimitives.FusedMultiplyAdd(new ReadOnlySpan<float>(og + r * width + c0, columns), normalised, weightSum, weightSum);
                }
                AddInto(wg + c0, weightSum);
                ArrayPool<float>.Shared.Return(scratch);
            });

            CpuParallel.For(rows, 32, (start, end) =>
            {
                float[] rented = ArrayPool<float>.Shared.Rent(width);
                var g = rented.AsSpan(0, width);
                for (long r = start; r < end; r++)
                {
                    var row = new ReadOnlySpan<float>(xp + r * width, width);
                    var dx = new Span<float>(ig + r * width, width);
                    TensorPrimitives.Multiply(new ReadOnlySpan<float>(og + r * width, width), w.AsSpan(0, width), g);
                    float s = rstd[r];
                    float meanGX = TensorPrimitives.Dot<float>(g, row) / width;
                    TensorPrimitives.FusedMultiplyAdd(row, -s * s * meanGX, g, dx);
                    TensorPrimitives.Multiply(dx, s, dx);
                }
                ArrayPool<float>.Shared.Return(rented);
            });
        }
        finally
        {
            ArrayPool<float>.Shared.Return(w);
            ArrayPool<float>.Shared.Return(rstd);
        }
    }

    private static void AddInto(float* destination, ReadOnlySpan<float> values)
    {
        var dst = new Span<float>(destination, values.Length);
        TensorPrimitives.Add(dst, values, dst);
    }
}
