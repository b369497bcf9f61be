using MeZO.Engine.Backends.Cuda.Runtime;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>
/// Reductions over the vocabulary, one block per row: log-softmax of the target token, and argmax. Logits are float32
/// or 16-bit, read where they lie; statistics and results are float32.
/// </summary>
internal static class CudaLogits
{
    public static void LogSoftmaxGather(CudaBackend backend, Tensor logits, Tensor targets, Tensor output)
    {
        long rows = logits.Shape.Rows;
        if (rows == 0) return;
        int vocab = logits.Shape[-1];
        backend.Launch(KernelCatalog.LogSoftmaxGather, "mezo_log_softmax_gather", LaunchShape.PerRow(rows, vocab),
            Pointer(logits.Address), I32((int)logits.DType), Pointer(targets.Address), Pointer(output.Address), I32(vocab),
            Pointer(backend.FaultAddress));
    }

    public static void LogSoftmaxAccumulate(CudaBackend backend, Tensor logits, Tensor targets, int firstColumn, Tensor state)
    {
        long rows = logits.Shape.Rows;
        int width = logits.Shape[-1];
        if (rows == 0 || width == 0) return;
        backend.Launch(KernelCatalog.LogSoftmaxGather, "mezo_log_softmax_accumulate", LaunchShape.PerRow(rows, width),
            Pointer(logits.Address), I32((int)logits.DType), Pointer(targets.Address), Pointer(state.Address), I32(width),
            I32(firstColumn));
    }

    public static void Argmax(CudaBackend backend, Tensor logits, Tensor output)
    {
        long rows = logits.Shape.Rows;
        if (rows == 0) return;
        int vocab = logits.Shape[-1];
        backend.Launch(KernelCatalog.Argmax, "mezo_argmax", LaunchShape.PerRow(rows, vocab),
            Pointer(logits.Address), I32((int)logits.DType), Pointer(output.Address), I32(vocab));
    }
}
