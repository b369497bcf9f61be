namespace MeZO.Engine.Backends.Cuda.Compilation;

/// <summary>A kernel file that NVRTC rejected: the file, the target and NVRTC's log.</summary>
public sealed class KernelCompileException(string fileName, string target, string log)
    : Exception($"NVRTC could not compile Kernels/{fileName} for {target}:\n{log.TrimEnd()}")
{
    public string FileName { get; } = fileName;
    public string Log { get; } = log;
}
