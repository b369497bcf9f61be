namespace MeZO.Engine.Cuda.Native;

/// <summary>A CUDA stream: the one queue every op of a backend is issued to, in order.</summary>
internal sealed class CudaStreamHandle : ContextBoundHandle
{
    private CudaStreamHandle(CudaContextHandle context, nint raw) : base(context, raw)
    {
    }

    /// <summary>A stream that does not synchronise with the legacy default stream (the engine uses only its own).</summary>
    public static CudaStreamHandle Create(CudaContextHandle context)
    {
        const uint nonBlocking = 1; // CU_STREAM_NON_BLOCKING
        CudaException.ThrowIfFailed(CudaDriver.cuStreamCreate(out nint raw, nonBlocking));
        return new CudaStreamHandle(context, raw);
    }

    protected override CuResult Destroy(nint raw) => CudaDriver.cuStreamDestroy(raw);
}
