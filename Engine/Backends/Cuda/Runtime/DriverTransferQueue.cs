using MeZO.Engine.Backends.Cuda.Native;

namespace MeZO.Engine.Backends.Cuda.Runtime;

/// <summary>
/// <see cref="ITransferQueue"/> on a GPU: a second non-blocking stream for the copies, one event to hand the compute
/// stream's progress to it, and one event per marker for the compute stream to wait on. The copy engine then moves
/// layer l + 1 while the SMs compute layer l.
/// </summary>
internal sealed unsafe class DriverTransferQueue : ITransferQueue
{
    private readonly CudaContextHandle _context;
    private readonly CudaStreamHandle _compute;
    private readonly CudaStreamHandle _copies;
    private readonly CudaEventHandle _computeReached;
    private readonly CudaEventHandle[] _marks;

    public DriverTransferQueue(CudaContextHandle context, CudaStreamHandle compute, int markers)
    {
        _context = context;
        _compute = compute;
        context.MakeCurrent();
        _copies = CudaStreamHandle.Create(context);
        _marks = new CudaEventHandle[markers];
        try
        {
            _computeReached = CudaEventHandle.Create(context, timing: false);
            for (int i = 0; i < markers; i++) _marks[i] = CudaEventHandle.Create(context, timing: false);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public void WaitForCompute()
    {
        _context.MakeCurrent();
        CudaException.ThrowIfFailed(CudaDriver.cuEventRecord(_computeReached.Raw, _compute.Raw));
        CudaException.ThrowIfFailed(CudaDriver.cuStreamWaitEvent(_copies.Raw, _computeReached.Raw, 0));
    }

    public void Upload(nint destination, nint pinnedSource, long bytes)
    {
        if (bytes == 0) return;
        _context.MakeCurrent();
        CudaException.ThrowIfFailed(CudaDriver.cuMemcpyHtoDAsync((ulong)destination, (void*)pinnedSource, (nuint)bytes, _copies.Raw));
    }

    public void Mark(int marker)
    {
        _context.MakeCurrent();
        CudaException.ThrowIfFailed(CudaDriver.cuEventRecord(_marks[marker].Raw, _copies.Raw));
    }

    public void ComputeWaitsFor(int marker)
    {
        _context.MakeCurrent();
        CudaException.ThrowIfFailed(CudaDriver.cuStreamWaitEvent(_compute.Raw, _marks[marker].Raw, 0));
    }

    public void Dispose()
    {
        // Copies in flight read host memory and write slots that are freed next; Dispose must not throw over an
        // exception already on its way out, so a failure here (a sticky earlier fault) is left to the call that met it.
        if (_copies is not null && _context.TryMakeCurrent()) CudaDriver.cuStreamSynchronize(_copies.Raw);
        foreach (var e in _marks) e?.Dispose();
        _computeReached?.Dispose();
        _copies?.Dispose();
    }
}
