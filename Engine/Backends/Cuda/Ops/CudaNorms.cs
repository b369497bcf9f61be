using MeZO.Engine.Backends.Cuda.Runtime;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>LayerNorm and RMSNorm over the last axis, one block per row, on float32 or 16-bit activations.</summary>
internal static class CudaNorms
{
    /// <summary>Kernel code for "no tensor" where a bias is optional (MEZO_NO_TENSOR).</summary>
    public const int NoTensor = -1;

    public static void LayerNorm(CudaBackend backend, Tensor x, Tensor weight, Tensor? bias, float eps, Tensor output)
    {
        long rows = x.Shape.Rows;
        if (rows == 0) return;
        int width = x.Shape[-1];
        backend.Launch(KernelCatalog.LayerNorm, "mezo_layernorm", LaunchShape.PerRow(rows, width),
            Pointer(x.Address), I32((int)x.DType), Pointer(weight.Address), I32((int)weight.DType), Pointer(bias?.Address ?? 0),
            I32(bias is null ? NoTensor : (int)bias.DType), F32(eps), Pointer(output.Address), I32(width));
    }

    public static void RmsNorm(CudaBackend backend, Tensor x, Tensor weight, float eps, Tensor output)
    {
        long rows = x.Shape.Rows;
        if (rows == 0) return;
        int width = x.Shape[-1];
        backend.Launch(KernelCatalog.RmsNorm, "mezo_rmsnorm", LaunchShape.PerRow(rows, width),
            Pointer(x.Address), I32((int)x.DType), Pointer(weight.Address), I32((int)weight.DType), F32(eps), Pointer(output.Address),
            I32(width));
    }
}
