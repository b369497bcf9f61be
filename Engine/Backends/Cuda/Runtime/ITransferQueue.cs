namespace MeZO.Engine.Backends.Cuda.Runtime;

/// <summary>
/// A second device queue for host-to-device copies beside the compute queue (a streamed model's layer slots), ordered
/// against it by numbered markers: CUDA's copy stream and events.
/// </summary>
internal interface ITransferQueue : IDisposable
{
    /// <summary>Copies queued from now on start after all compute queued so far.</summary>
    void WaitForCompute();

    /// <summary>Queues a copy of page-locked host bytes (<see cref="IDeviceRuntime.AllocatePinnedHost"/>) to device memory.</summary>
    void Upload(nint destination, nint pinnedSource, long bytes);

    /// <summary>Marks the copies queued so far as <paramref name="marker"/>'s (replacing its earlier mark).</summary>
    void Mark(int marker);

    /// <summary>Compute queued from now on waits for the copies before the marker's last mark.</summary>
    void ComputeWaitsFor(int marker);
}
