using System.Runtime.InteropServices;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>Host memory aligned to a cache line (and a full AVX-512 vector), zero-filled.</summary>
internal sealed unsafe class CpuMemory : BackendMemory
{
    public const int Alignment = 64;

    private readonly MemoryReport _report;
    private readonly MemoryCategory _category;

    public CpuMemory(long bytes, MemoryReport report, MemoryCategory category) : base(bytes)
    {
        _report = report;
        _category = category;
        nuint size = (nuint)Math.Max(bytes, 1);
        void* p = NativeMemory.AlignedAlloc(size, Alignment);
        if (p is null) throw new OutOfMemoryException($"could not allocate {bytes} bytes of host memory");
        NativeMemory.Clear(p, size);
        SetHandle((nint)p);
        _report.Add(_category, bytes);
    }

    public override bool IsHostAccessible => true;

    protected override bool ReleaseHandle()
    {
        NativeMemory.AlignedFree((void*)handle);
        _report.Remove(_category, Bytes);
        return true;
    }
}
