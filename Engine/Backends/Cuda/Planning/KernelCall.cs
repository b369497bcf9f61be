using MeZO.Engine.Backends.Cuda.Runtime;

namespace MeZO.Engine.Backends.Cuda.Planning;

/// <summary>One recorded kernel launch: the kernel's name, its grid and its arguments, read back by parameter position.</summary>
internal sealed class KernelCall(string kernel, LaunchShape shape, KernelArgument[] arguments)
{
    public string Kernel { get; } = kernel;
    public LaunchShape Shape { get; } = shape;
    public IReadOnlyList<KernelArgument> Arguments { get; } = arguments;

    /// <summary>The argument kinds as letters (p pointer, i int, l long long, u unsigned long long, f float).</summary>
    public string Parameters => string.Concat(Arguments.Select(a => a.Kind switch
    {
        KernelArgumentKind.Pointer => 'p',
        KernelArgumentKind.I32 => 'i',
        KernelArgumentKind.I64 => 'l',
        KernelArgumentKind.U64 => 'u',
        KernelArgumentKind.F32 => 'f',
        _ => '?',
    }));

    public nint Pointer(int i) => (nint)Arguments[i].Bits;
    public int I32(int i) => (int)(uint)Arguments[i].Bits;
    public long I64(int i) => (long)Arguments[i].Bits;
    public ulong U64(int i) => Arguments[i].Bits;

    /// <summary>Blocks along x: the rows of a <see cref="LaunchShape.PerRow"/> launch.</summary>
    public long GridX => Shape.Grid.X;
}
