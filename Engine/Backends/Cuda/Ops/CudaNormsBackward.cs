using MeZO.Engine.Backends.Cuda.Runtime;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>
/// The backward of LayerNorm and RMSNorm (Kernels/norm_backward.cu, then column_sums.cu; CPU twin: CpuNormsBackward):
/// row statistics, parameter gradients as deterministic chunked column sums, then the input gradient, in that order so
/// that the input gradient may be written over the output gradient.
/// </summary>
internal static class CudaNormsBackward
{
    public static void LayerNorm(CudaBackend backend, Tensor x, Tensor weight, float eps, Tensor outputGrad, Tensor inputGrad,
        Tensor weightGrad, Tensor? biasGrad) =>
        Run(backend, "mezo_layernorm_backward_stats", "mezo_layernorm_backward_input", x, weight, eps, outputGrad, inputGrad, weightGrad,
            biasGrad);

    public static void RmsNorm(CudaBackend backend, Tensor x, Tensor weight, float eps, Tensor outputGrad, Tensor inputGrad,
        Tensor weightGrad) =>
        Run(backend, "mezo_rmsnorm_backward_stats", "mezo_rmsnorm_backward_input", x, weight, eps, outputGrad, inputGrad, weightGrad,
            biasGrad: null);

    private static void Run(CudaBackend backend, string statsKernel, string inputKernel, Tensor x, Tensor weight, float eps,
        Tensor outputGrad, Tensor inputGrad, Tensor weightGrad, Tensor? biasGrad)
    {
        long rows = x.Shape.Rows;
        int width = x.Shape[-1];
        if (rows == 0 || width == 0) return;
        int chunks = CudaColumnSums.Chunks(rows, $"the norm backward of '{x.Name}'");
        long partials = (long)chunks * width;
        // stats (rows, 2); weight partials (chunks, width), then the bias's.
        var (stats, weightPartials) = backend.GradientScratch.Reserve(backend.Capturing, rows * 2 * sizeof(float),
            partials * (biasGrad is null ? 1 : 2) * sizeof(float));
        nint biasPartials = biasGrad is null ? 0 : weightPartials + (nint)(partials * sizeof(float));
        var perRow = LaunchShape.PerRow(rows, width);

        backend.Launch(KernelCatalog.NormBackward, statsKernel, perRow, Pointer(x.Address), F32(eps), Pointer(stats), I32(width));
        backend.Launch(KernelCatalog.NormBackward, "mezo_norm_backward_partials", CudaColumnSums.PartialShape(width, chunks),
            Pointer(x.Address), Pointer(stats), Pointer(outputGrad.Address), I32((int)rows), I32(width), I32(CudaColumnSums.ChunkRows),
            Pointer(weightPartials), Pointer(biasPartials));
        CudaColumnSums.Finish(backend, weightPartials, chunks, width, weightGrad.Address);
        if (biasGrad is not null) CudaColumnSums.Finish(backend, biasPartials, chunks, width, biasGrad.Address);
        backend.Launch(KernelCatalog.NormBackward, inputKernel, perRow, Pointer(x.Address), Pointer(weight.Address), I32((int)weight.DType),
            Pointer(stats), Pointer(outputGrad.Address), Pointer(inputGrad.Address), I32(width));
    }
}
