using System.Runtime.InteropServices;

namespace MeZO.Engine.Backends.Cuda.Native;

/// <summary>
/// A driver object that lives in a context: it keeps the context alive (DangerousAddRef) and makes it current before
/// releasing itself, which may happen on the finalizer thread. Release never throws; a failure only returns false.
/// Subclasses are created from an already valid raw handle, so a failed creation never holds a reference.
/// </summary>
internal abstract class ContextBoundHandle : SafeHandle
{
    private readonly CudaContextHandle _context;

    protected ContextBoundHandle(CudaContextHandle context, nint raw) : base(0, ownsHandle: true)
    {
        bool added = false;
        context.DangerousAddRef(ref added);
        _context = context;
        SetHandle(raw);
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>The raw handle for a driver call; the caller keeps this object alive for the call's duration.</summary>
    public nint Raw => handle;

    protected sealed override bool ReleaseHandle()
    {
        try
        {
            return _context.TryMakeCurrent() && Destroy(handle) == CuResult.Success;
        }
        finally
        {
            _context.DangerousRelease();
        }
    }

    protected abstract CuResult Destroy(nint raw);
}
