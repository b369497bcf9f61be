using MeZO.Engine.Backends.Cuda.Runtime;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>
/// The backward of rotary position embedding, in place (Kernels/rope_backward.cu; CPU twin: CpuRope.Backward): the
/// forward's launch, the inverse rotation.
/// </summary>
internal static class CudaRopeBackward
{
    public static void Run(CudaBackend backend, Tensor grad, Tensor positions, Tensor invFrequencies)
    {
        long rows = (long)grad.Shape[0] * grad.Shape[1];
        int half = (int)invFrequencies.ElementCount;
        if (rows == 0 || half == 0 || grad.Shape[2] == 0) return;
        backend.Launch(KernelCatalog.RopeBackward, "mezo_rope_backward", LaunchShape.PerRow(rows, half),
            Pointer(grad.Address), Pointer(positions.Address), Pointer(invFrequencies.Address), I32(grad.Shape[2]), I32(grad.Shape[3]),
            I32(half));
    }
}
