namespace MeZO.Engine.Cuda.Native;

/// <summary>A CUDA event: a marker in a stream, to wait for or to time work between two of them.</summary>
internal sealed class CudaEventHandle : ContextBoundHandle
{
    private CudaEventHandle(CudaContextHandle context, nint raw) : base(context, raw)
    {
    }

    public static CudaEventHandle Create(CudaContextHandle context, bool timing)
    {
        const uint disableTiming = 2; // CU_EVENT_DISABLE_TIMING: cheaper where only ordering matters
        CudaException.ThrowIfFailed(CudaDriver.cuEventCreate(out nint raw, timing ? 0u : disableTiming));
        return new CudaEventHandle(context, raw);
    }

    protected override CuResult Destroy(nint raw) => CudaDriver.cuEventDestroy(raw);
}
