using MeZO.Engine.Backends.Cuda.Compilation;

namespace MeZO.Engine.Backends.Cuda.Runtime;

/// <summary>A kernel ready to launch on one runtime: its file, its name and the runtime's handle for it.</summary>
internal sealed class DeviceKernel(KernelFile file, string name, nint handle)
{
    public KernelFile File { get; } = file;
    public string Name { get; } = name;
    public nint Handle { get; } = handle;

    /// <summary>The dynamic shared memory this kernel has been allowed beyond the default 48 KiB (0 until raised).</summary>
    public int SharedLimit { get; set; }

    public override string ToString() => $"{File.Name}:{Name}";
}
