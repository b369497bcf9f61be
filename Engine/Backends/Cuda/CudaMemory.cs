using System.Runtime.InteropServices;
using MeZO.Engine.Backends.Cuda.Native;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cuda;

/// <summary>
/// One allocation of a CUDA context, counted in its backend's <see cref="MemoryReport"/> by category while it lives:
/// device memory (cuMemAlloc: 256-byte aligned), or page-locked host memory (cuMemAllocHost: page-aligned,
/// zero-filled) for a host backend's tensors that the GPU's copy engine reads directly, such as a streamed model's
/// layers, which then cross the bus at full speed with no staging copy. It keeps its context alive and makes it
/// current to free itself, so it can be released from any thread.
/// </summary>
internal sealed unsafe class CudaMemory : BackendMemory
{
    private readonly CudaContextHandle _context;
    private readonly MemoryReport _report;
    private readonly MemoryCategory _category;
    private readonly bool _pinnedHost;

    public CudaMemory(CudaContextHandle context, long bytes, MemoryReport report, MemoryCategory category, bool pinnedHost = false) : base(bytes)
    {
        _context = context;
        _report = report;
        _category = category;
        _pinnedHost = pinnedHost;
        bool added = false;
        context.DangerousAddRef(ref added); // first: a disposed context fails before anything is allocated
        try
        {
            context.MakeCurrent();
            // A zero-byte tensor still gets a distinct valid address, as on the CPU.
            if (pinnedHost)
            {
                var result = CudaDriver.cuMemAllocHost(out nint pointer, (nuint)Math.Max(bytes, 1));
                if (result != CuResult.Success)
                    throw CudaException.From(result, $"cuMemAllocHost({bytes} bytes of pinned host {category.ToString().ToLowerInvariant()}; " +
                                                     "the host's page-locked memory may be limited: check ulimit -l)");
                SetHandle(pointer);
            }
            else
            {
                var result = CudaDriver.cuMemAlloc(out ulong address, (nuint)Math.Max(bytes, 1));
                if (result != CuResult.Success)
                    throw CudaException.From(result, $"cuMemAlloc({bytes} bytes of {category.ToString().ToLowerInvariant()})");
                SetHandle((nint)address);
            }
        }
        catch
        {
            context.DangerousRelease(); // no handle, so ReleaseHandle never runs to do it
            throw;
        }
        if (pinnedHost) NativeMemory.Clear((void*)handle, (nuint)Math.Max(bytes, 1));
        report.Add(category, bytes);
    }

    public override bool IsHostAccessible => _pinnedHost;

    protected override bool ReleaseHandle()
    {
        try
        {
            _report.Remove(_category, Bytes);
            return _context.TryMakeCurrent() &&
                   (_pinnedHost ? CudaDriver.cuMemFreeHost(handle) : CudaDriver.cuMemFree((ulong)handle)) == CuResult.Success;
        }
        finally
        {
            _context.DangerousRelease();
        }
    }
}
