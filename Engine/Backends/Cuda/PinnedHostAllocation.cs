using System.Runtime.InteropServices;
using MeZO.Engine.Backends.Cuda.Native;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cuda;

/// <summary>
/// One page-locked host allocation (cuMemAllocHost: page-aligned) of a host backend's tensors, zero-filled, counted in
/// that backend's <see cref="MemoryReport"/>: a streamed model's layers, which the GPU's copy engine reads directly, so
/// a layer crosses the bus at full speed with no staging copy. It keeps its context alive and makes it current to free
/// itself, so it can be released from any thread.
/// </summary>
internal sealed unsafe class PinnedHostAllocation : BackendMemory
{
    private readonly CudaContextHandle _context;
    private readonly MemoryReport _report;
    private readonly MemoryCategory _category;

    public PinnedHostAllocation(CudaContextHandle context, long bytes, MemoryReport report, MemoryCategory category) : base(bytes)
    {
        _context = context;
        _report = report;
        _category = category;
        bool added = false;
        context.DangerousAddRef(ref added); // first: a disposed context fails before anything is allocated
        try
        {
            context.MakeCurrent();
            var result = CudaDriver.cuMemAllocHost(out nint pointer, (nuint)Math.Max(bytes, 1));
            if (result != CuResult.Success)
                throw CudaException.From(result, $"cuMemAllocHost({bytes} bytes of pinned host {category.ToString().ToLowerInvariant()}; " +
                                                 "the host's page-locked memory may be limited: check ulimit -l)");
            SetHandle(pointer);
        }
        catch
        {
            context.DangerousRelease(); // no handle, so ReleaseHandle never runs to do it
            throw;
        }
        NativeMemory.Clear((void*)handle, (nuint)Math.Max(bytes, 1));
        report.Add(category, bytes);
    }

    public override bool IsHostAccessible => true;

    protected override bool ReleaseHandle()
    {
        try
        {
            _report.Remove(_category, Bytes);
            return _context.TryMakeCurrent() && CudaDriver.cuMemFreeHost(handle) == CuResult.Success;
        }
        finally
        {
            _context.DangerousRelease();
        }
    }
}
