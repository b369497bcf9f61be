using MeZO.Engine.Backends.Cuda.Runtime;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>Rotary position embedding in place, one block per (batch, position) row, on float32 or 16-bit activations.</summary>
internal static class CudaRope
{
    public static void Apply(CudaBackend backend, Tensor x, Tensor positions, Tensor invFrequencies)
    {
        long rows = (long)x.Shape[0] * x.Shape[1];
        int half = (int)invFrequencies.ElementCount;
        if (rows == 0 || half == 0 || x.Shape[2] == 0) return;
        backend.Launch(KernelCatalog.Rope, "mezo_rope", LaunchShape.PerRow(rows, half),
            Pointer(x.Address), I32((int)x.DType), Pointer(positions.Address), Pointer(invFrequencies.Address), I32(x.Shape[2]), I32(x.Shape[3]), I32(half));
    }
}
