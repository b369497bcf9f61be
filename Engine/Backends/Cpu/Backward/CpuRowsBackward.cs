using System.Numerics.Tensors;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu.Backward;

/// <summary>The backward of the row ops: scatter-adds of output rows (embedding lookup, row gather) and the column slice.</summary>
internal static unsafe class CpuRowsBackward
{
    /// <summary>
    /// tableGrad[ids[n]] += outputGrad[n]; outputGrad (N, C), ids (N) I32, tableGrad (V, C) F32; shapes validated by
    /// <see cref="BackwardContracts.Embedding"/>.
    /// </summary>
    public static void Embedding(Tensor outputGrad, Tensor ids, Tensor tableGrad) =>
        ScatterAdd(nameof(IBackwardOps.EmbeddingBackward), "id", outputGrad, ids, tableGrad);

    /// <summary>inputGrad[rows[s]] += outputGrad[s]; shapes validated by <see cref="BackwardContracts.GatherRows"/>.</summary>
    public static void GatherRows(Tensor outputGrad, Tensor rows, Tensor inputGrad) =>
        ScatterAdd(nameof(IBackwardOps.GatherRowsBackward), "row", outputGrad, rows, inputGrad);

    /// <summary>inputGrad (N, C) columns [start, start + W) = outputGrad (N, W), row by row; shapes validated by <see cref="BackwardContracts.SliceColumns"/>.</summary>
    public static void SliceColumns(Tensor outputGrad, int start, Tensor inputGrad)
    {
        int width = outputGrad.Shape[-1], stride = inputGrad.Shape[-1];
        float* src = (float*)outputGrad.Address, dst = (float*)inputGrad.Address;
        for (long r = 0; r < outputGrad.Shape.Rows; r++)
            new ReadOnlySpan<float>(src + r * width, width).CopyTo(new Span<float>(dst + r * stride + start, width));
    }

    /// <summary>
    /// target[index[n]] += source[n]. Repeated indices add in position order (see <see cref="ColumnSplit"/>): no two
    /// tasks touch one target row's columns, so there is no race and no timing-dependent sum.
    /// </summary>
    private static void ScatterAdd(string op, string what, Tensor source, Tensor index, Tensor target)
    {
        int rows = target.Shape[0], width = target.Shape[-1];
        long count = index.ElementCount;
        int* idp = (int*)index.Address;
        for (long n = 0; n < count; n++)
            if ((uint)idp[n] >= (uint)rows)
                throw new ArgumentException($"{op}: {what} {idp[n]} at position {n} is outside '{target.Name}' ({rows} rows)");
        float* og = (float*)source.Address, tg = (float*)target.Address;
        ColumnSplit.For(width, count, (c0, c1) =>
        {
            int columns = c1 - c0;
            for (long n = 0; n < count; n++)
            {
                var dst = new Span<float>(tg + (long)idp[n] * width + c0, columns);
                TensorPrimitives.Add(dst, new ReadOnlySpan<float>(og + n * width + c0, columns), dst);
            }
        });
    }
}
