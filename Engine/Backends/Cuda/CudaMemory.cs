using MeZO.Engine.Backends.Cuda.Native;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cuda;

/// <summary>
/// One device allocation (cuMemAlloc: 256-byte aligned), counted in the backend's <see cref="MemoryReport"/> by
/// category while it lives. It keeps its context alive and makes it current to free itself, so it can be released
/// from any thread.
/// </summary>
internal sealed class CudaMemory : BackendMemory
{
    private readonly CudaContextHandle _context;
    private readonly MemoryReport _report;
    private readonly MemoryCategory _category;

    public CudaMemory(CudaContextHandle context, long bytes, MemoryReport report, MemoryCategory category) : base(bytes)
    {
        _context = context;
        _report = report;
        _category = category;
        bool added = false;
        context.DangerousAddRef(ref added); // first: a disposed context fails before anything is allocated
        try
        {
            context.MakeCurrent();
            // A zero-byte tensor still gets a distinct valid address, as on the CPU.
            var result = CudaDriver.cuMemAlloc(out ulong address, (nuint)Math.Max(bytes, 1));
            if (result != CuResult.Success)
                throw CudaException.From(result, $"cuMemAlloc({bytes} bytes of {category.ToString().ToLowerInvariant()})");
            SetHandle((nint)address);
        }
        catch
        {
            context.DangerousRelease(); // no handle, so ReleaseHandle never runs to do it
            throw;
        }
        report.Add(category, bytes);
    }

    public override bool IsHostAccessible => false;

    protected override bool ReleaseHandle()
    {
        try
        {
            _report.Remove(_category, Bytes);
            return _context.TryMakeCurrent() && CudaDriver.cuMemFree((ulong)handle) == CuResult.Success;
        }
        finally
        {
            _context.DangerousRelease();
        }
    }
}
