namespace MeZO.Engine.Backends.Cuda.Native;

/// <summary>A CUDA stream: the one queue every op of a backend is issued to, in order.</summary>
internal sealed class CudaStreamHandle : ContextBoundHandle
{
    private CudaStreamHandle(CudaContextHandle context, nint raw) : base(context, raw)
    {
    }

    /// <summary>CU_STREAM_NON_BLOCKING (cuda.h).</summary>
    internal const uint NonBlocking = 1;

    /// <summary>A stream that does not synchronise with the legacy default stream (the engine uses only its own).</summary>
    public static CudaStreamHandle Create(CudaContextHandle context)
    {
        CudaException.ThrowIfFailed(CudaDriver.cuStreamCreate(out nint raw, NonBlocking));
        return new CudaStreamHandle(context, raw);
    }

    protected override CuResult Destroy(nint raw) => CudaDriver.cuStreamDestroy(raw);
}
