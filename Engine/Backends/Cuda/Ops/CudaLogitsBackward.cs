using MeZO.Engine.Backends.Cuda.Runtime;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>
/// The backward of the log-softmax of the target tokens, one block per row (Kernels/log_softmax_gather_backward.cu;
/// CPU twin: CpuLogitsBackward).
/// </summary>
internal static class CudaLogitsBackward
{
    public static void LogSoftmaxGather(CudaBackend backend, Tensor logits, Tensor targets, Tensor outputGrad, Tensor logitsGrad)
    {
        long rows = logits.Shape.Rows;
        if (rows == 0) return;
        int vocab = logits.Shape[-1];
        backend.Launch(KernelCatalog.LogSoftmaxGatherBackward, "mezo_log_softmax_gather_backward", LaunchShape.PerRow(rows, vocab),
            Pointer(logits.Address), Pointer(targets.Address), Pointer(outputGrad.Address), Pointer(logitsGrad.Address), I32(vocab),
            Pointer(backend.FaultAddress));
    }
}
