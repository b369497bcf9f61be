namespace MeZO.Engine.Backends.Cuda.Compilation;

/// <summary>A kernel file compiled by NVRTC: the image to load (a cubin, or PTX ending in a zero byte) and the log.</summary>
internal sealed record CompiledKernelFile(KernelFile File, GpuArchitecture Target, byte[] Image, string Log)
{
    /// <summary>Per-kernel resources from ptxas's log; empty for PTX, which ptxas has not seen yet.</summary>
    public IReadOnlyList<KernelResources> Resources => KernelResources.ParsePtxasLog(Log);
}
