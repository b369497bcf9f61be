namespace MeZO.Engine.Backends.Cuda.Compilation;

/// <summary>One kernel file: compiled as one NVRTC program into one module, with the kernels it defines.</summary>
/// <param name="Name">The file in Kernels/, e.g. "attention.cu".</param>
/// <param name="Kernels">Its extern "C" kernel names.</param>
/// <param name="Options">Options beyond the common ones, e.g. --fmad=false where results must round as the CPU's.</param>
internal sealed record KernelFile(string Name, IReadOnlyList<string> Kernels, IReadOnlyList<string> Options)
{
    /// <summary>
    /// Launch geometry the file's launcher states in C#, compiled in as `-D NAME=value`: the source defines none of
    /// these names, so the kernel and its launch are written from one definition and a file compiled without them fails.
    /// </summary>
    public IReadOnlyList<(string Name, int Value)> Defines { get; init; } = [];

    public override string ToString() => Name;
}
