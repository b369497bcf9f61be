using System.Runtime.InteropServices;

namespace MeZO.Engine.Backends.Cuda.Native;

/// <summary>
/// A retained reference to a device's primary context. Every other driver object holds a reference to this handle
/// (<see cref="ContextBoundHandle"/>), so the context outlives them whatever order they are released in.
/// </summary>
internal sealed class CudaContextHandle : SafeHandle
{
    private CudaContextHandle(int device, nint context) : base(0, ownsHandle: true)
    {
        Device = device;
        SetHandle(context);
    }

    public int Device { get; }

    public override bool IsInvalid => handle == 0;

    public static CudaContextHandle Retain(int device)
    {
        CudaException.ThrowIfFailed(CudaDriver.cuDevicePrimaryCtxRetain(out nint context, device));
        return new CudaContextHandle(device, context);
    }

    /// <summary>Makes the context current on the calling thread (the driver API works on the current context).</summary>
    public void MakeCurrent() => CudaException.ThrowIfFailed(CudaDriver.cuCtxSetCurrent(handle));

    /// <summary>For release paths, which must not throw.</summary>
    public bool TryMakeCurrent() => CudaDriver.cuCtxSetCurrent(handle) == CuResult.Success;

    protected override bool ReleaseHandle() => CudaDriver.cuDevicePrimaryCtxRelease(Device) == CuResult.Success;
}
