namespace MeZO.Engine.Backends.Cuda.Native;

/// <summary>A CUDA event: a marker in a stream, to wait for or to time work between two of them.</summary>
internal sealed class CudaEventHandle : ContextBoundHandle
{
    private CudaEventHandle(CudaContextHandle context, nint raw) : base(context, raw)
    {
    }

    /// <summary>CU_EVENT_DISABLE_TIMING (cuda.h): cheaper where only ordering matters.</summary>
    internal const uint DisableTiming = 2;

    public static CudaEventHandle Create(CudaContextHandle context, bool timing)
    {
        CudaException.ThrowIfFailed(CudaDriver.cuEventCreate(out nint raw, timing ? 0u : DisableTiming));
        return new CudaEventHandle(context, raw);
    }

    protected override CuResult Destroy(nint raw) => CudaDriver.cuEventDestroy(raw);
}
