using MeZO.Engine.Backends.Cuda.Runtime;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>
/// The backward of the row ops (Kernels/rows_backward.cu; CPU twin: CpuRowsBackward): the scatter-adds of embedding
/// and row-gather gradients, one thread per column walking the positions in order (no atomics, bit-identical to the
/// CPU), and the column slice's gradient.
/// </summary>
internal static class CudaRowsBackward
{
    public static void Embedding(CudaBackend backend, Tensor outputGrad, Tensor ids, Tensor tableGrad) =>
        ScatterAdd(backend, "mezo_embedding_backward", outputGrad, ids, tableGrad);

    public static void GatherRows(CudaBackend backend, Tensor outputGrad, Tensor rows, Tensor inputGrad) =>
        ScatterAdd(backend, "mezo_gather_rows_backward", outputGrad, rows, inputGrad);

    public static void SliceColumns(CudaBackend backend, Tensor outputGrad, int start, Tensor inputGrad)
    {
        long count = outputGrad.ElementCount;
        if (count == 0) return;
        backend.Launch(KernelCatalog.RowsBackward, "mezo_slice_columns_backward", LaunchShape.Striding(count),
            Pointer(outputGrad.Address), Pointer(inputGrad.Address), I32(inputGrad.Shape[-1]), I32(start), I32(outputGrad.Shape[-1]),
            I64(count));
    }

    /// <summary>
    /// target[index[n]] += source[n]. Launched even for zero-width rows, so a bad index is reported as the CPU reports
    /// it whatever the width.
    /// </summary>
    private static void ScatterAdd(CudaBackend backend, string kernel, Tensor source, Tensor index, Tensor target)
    {
        long count = index.ElementCount;
        if (count == 0) return;
        int width = target.Shape[-1];
        var blocks = (uint)((Math.Max(width, 1) + LaunchShape.Threads - 1) / LaunchShape.Threads);
        backend.Launch(KernelCatalog.RowsBackward, kernel, new LaunchShape(new Dim3(blocks), new Dim3(LaunchShape.Threads)),
            Pointer(source.Address), Pointer(index.Address), Pointer(target.Address), I32(checked((int)count)), I32(width),
            I32(target.Shape[0]), Pointer(backend.FaultAddress));
    }
}
