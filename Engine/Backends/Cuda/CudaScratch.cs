using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cuda;

/// <summary>
/// A workspace of the backend's own (operands converted for cuBLASLt and a widened bias; in a second instance, the
/// float32 perturbed weight of PerturbedLinear): one allocation that grows to the largest request and is then reused,
/// so steady-state steps allocate nothing. Counted as workspace memory. Growing waits for queued work first (an op in
/// flight may still read the old buffer) and is refused during graph capture.
/// </summary>
internal sealed class CudaScratch(IDeviceRuntime runtime, MemoryReport report) : IDisposable
{
    /// <summary>Every region starts on a 256-byte boundary, the alignment cuMemAlloc gives and cuBLASLt prefers.</summary>
    public const int Alignment = 256;

    private BackendMemory? _memory;

    public long Bytes => _memory?.Bytes ?? 0;

    /// <summary>Two regions of the given sizes, one after the other, valid until the next call.</summary>
    public (nint First, nint Second) Reserve(bool capturing, long first, long second)
    {
        long secondOffset = (first + Alignment - 1) / Alignment * Alignment;
        long total = secondOffset + second;
        if (_memory is null || _memory.Bytes < total)
        {
            if (capturing)
                throw new InvalidOperationException($"the CUDA workspace must grow to {total} bytes during graph capture; " +
                                                    "run the captured work once before capturing it");
            runtime.Synchronize();
            _memory?.Dispose();
            _memory = runtime.Allocate(total, report, MemoryCategory.Workspace);
        }
        nint start = _memory.DangerousGetHandle();
        return (start, start + (nint)secondOffset);
    }

    public void Dispose() => _memory?.Dispose();
}
