using System.Numerics.Tensors;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu.Backward;

/// <summary>The backward of the embedding lookup: a scatter-add of output rows into the table's gradient.</summary>
internal static unsafe class CpuRowsBackward
{
    /// <summary>
    /// tableGrad[ids[n]] += outputGrad[n]; outputGrad (N, C), ids (N) I32, tableGrad (V, C) F32; shapes validated by
    /// <see cref="BackwardContracts.Embedding"/>. Repeated ids add in position order (see <see cref="ColumnSplit"/>):
    /// no two tasks touch one table row's columns, so there is no race and no timing-dependent sum.
    /// </summary>
    public static void Embedding(Tensor outputGrad, Tensor ids, Tensor tableGrad)
    {
        int vocab = tableGrad.Shape[0], width = tableGrad.Shape[1];
        long count = ids.ElementCount;
        int* idp = (int*)ids.Address;
        for (long n = 0; n < count; n++)
            if ((uint)idp[n] >= (uint)vocab)
                throw new ArgumentException(
                    $"{nameof(IBackwardOps.EmbeddingBackward)}: id {idp[n]} at position {n} is outside '{tableGrad.Name}' (vocabulary {vocab})");
        float* og = (float*)outputGrad.Address, tg = (float*)tableGrad.Address;
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
