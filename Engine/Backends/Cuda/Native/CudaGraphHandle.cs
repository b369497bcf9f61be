namespace MeZO.Engine.Backends.Cuda.Native;

/// <summary>A captured CUDA graph (the recipe); <see cref="CudaGraphExecHandle"/> is its launchable instance.</summary>
internal sealed class CudaGraphHandle : ContextBoundHandle
{
    public CudaGraphHandle(CudaContextHandle context, nint raw) : base(context, raw)
    {
    }

    protected override CuResult Destroy(nint raw) => CudaDriver.cuGraphDestroy(raw);
}

/// <summary>An instantiated graph: the whole captured sequence of kernels replays with one launch.</summary>
internal sealed class CudaGraphExecHandle : ContextBoundHandle
{
    private CudaGraphExecHandle(CudaContextHandle context, nint raw) : base(context, raw)
    {
    }

    public static CudaGraphExecHandle Instantiate(CudaContextHandle context, CudaGraphHandle graph)
    {
        CudaException.ThrowIfFailed(CudaDriver.cuGraphInstantiateWithFlags(out nint raw, graph.Raw, 0));
        return new CudaGraphExecHandle(context, raw);
    }

    protected override CuResult Destroy(nint raw) => CudaDriver.cuGraphExecDestroy(raw);
}
