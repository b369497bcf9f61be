namespace MeZO.Engine.Backends.Cuda.Runtime;

/// <summary>
/// A recorded sequence of kernels (a CUDA graph) that replays with one launch: the two forward passes of a MeZO step
/// repeat the same kernels on the same buffers, and replaying them saves the per-kernel launch cost. Only what the
/// recorded kernels read may change between launches (the weights, the uploaded tokens); shapes and buffers may not,
/// and that includes the backend's own workspace: a Linear of a larger shape than any before the capture grows (moves)
/// it, so run the largest shapes before capturing, and capture again after anything that allocates.
/// </summary>
public sealed class CudaGraph : IDisposable
{
    private readonly IDisposable _resources;
    private readonly Action _launch;
    private bool _disposed;

    internal CudaGraph(IDisposable resources, Action launch)
    {
        _resources = resources;
        _launch = launch;
    }

    /// <summary>Queues the whole recorded sequence.</summary>
    public void Launch()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _launch();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _resources.Dispose();
    }
}
