using System.Runtime.InteropServices;

namespace MeZO.Engine.Backends;

/// <summary>
/// One allocation owned by a backend: a host pointer on the CPU, a device address on CUDA.
/// Released deterministically through <see cref="SafeHandle.Dispose()"/>; the finalizer is only a safety net.
/// </summary>
public abstract class BackendMemory : SafeHandle
{
    protected BackendMemory(long bytes) : base(IntPtr.Zero, ownsHandle: true) => Bytes = bytes;

    public long Bytes { get; }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>True when the CPU can dereference <see cref="SafeHandle.DangerousGetHandle"/>.</summary>
    public abstract bool IsHostAccessible { get; }
}
