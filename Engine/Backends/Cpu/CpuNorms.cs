using System.Buffers;
using System.Numerics.Tensors;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>LayerNorm and RMSNorm over the last axis, one row per task.</summary>
internal static unsafe class CpuNorms
{
    public static void LayerNorm(Tensor x, Tensor weight, Tensor? bias, float eps, Tensor output)
    {
        int width = x.Shape[-1];
        float[] w = ArrayPool<float>.Shared.Rent(width);
        float[] b = ArrayPool<float>.Shared.Rent(width);
        try
        {
            CpuConvert.Load(weight.Address, weight.DType, 0, w.AsSpan(0, width));
            if (bias is null) b.AsSpan(0, width).Clear();
            else CpuConvert.Load(bias.Address, bias.DType, 0, b.AsSpan(0, width));
            float* src = (float*)x.Address, dst = (float*)output.Address;
            CpuParallel.For(x.Shape.Rows, 32, (start, end) =>
            {
                for (long r = start; r < end; r++)
                {
                    var row = new ReadOnlySpan<float>(src + r * width, width);
                    var result = new Span<float>(dst + r * width, width);
                    // Two passes (mean, then centred squares) as PyTorch does: no cancellation on rows with a large mean.
                    float mean = TensorPrimitives.Sum(row) / width;
                    TensorPrimitives.Subtract(row, mean, result);
                    float variance = TensorPrimitives.SumOfSquares(result) / width;
                    float rstd = 1f / MathF.Sqrt(variance + eps);
                    TensorPrimitives.Multiply(result, rstd, result);
                    TensorPrimitives.FusedMultiplyAdd(result, w.AsSpan(0, width), b.AsSpan(0, width), result);
                }
            });
        }
        finally
        {
            ArrayPool<float>.Shared.Return(w);
            ArrayPool<float>.Shared.Return(b);
        }
    }

    public static void RmsNorm(Tensor x, Tensor weight, float eps, Tensor output)
    {
        int width = x.Shape[-1];
        float[] w = ArrayPool<float>.Shared.Rent(width);
        try
        {
            CpuConvert.Load(weight.Address, weight.DType, 0, w.AsSpan(0, width));
            float* src = (float*)x.Address, dst = (float*)output.Address;
            CpuParallel.For(x.Shape.Rows, 32, (start, end) =>
            {
                for (long r = start; r < end; r++)
                {
                    var row = new ReadOnlySpan<float>(src + r * width, width);
                    var result = new Span<float>(dst + r * width, width);
                    float rstd = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(row) / width + eps);
                    TensorPrimitives.Multiply(row, rstd, result);
                    TensorPrimitives.Multiply(result, w.AsSpan(0, width), result);
                }
            });
        }
        finally
        {
            ArrayPool<float>.Shared.Return(w);
        }
    }
}
