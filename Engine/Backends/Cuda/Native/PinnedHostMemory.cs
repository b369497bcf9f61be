namespace MeZO.Engine.Backends.Cuda.Native;

/// <summary>Page-locked host memory: the staging buffer through which uploads and downloads run asynchronously.</summary>
internal sealed class PinnedHostMemory : ContextBoundHandle
{
    private PinnedHostMemory(CudaContextHandle context, nint raw, int bytes) : base(context, raw) => Bytes = bytes;

    public int Bytes { get; }

    public static PinnedHostMemory Allocate(CudaContextHandle context, int bytes)
    {
        CudaException.ThrowIfFailed(CudaDriver.cuMemAllocHost(out nint raw, (nuint)bytes));
        return new PinnedHostMemory(context, raw, bytes);
    }

    public unsafe Span<byte> Span => new((void*)Raw, Bytes);

    protected override CuResult Destroy(nint raw) => CudaDriver.cuMemFreeHost(raw);
}
