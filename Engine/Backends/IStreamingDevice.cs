namespace MeZO.Engine.Backends;

/// <summary>
/// A compute backend that streams weights from host memory beside its compute (CUDA: page-locked host memory, a copy
/// stream and events). A backend without it is streamed through its ordinary, synchronous uploads.
/// </summary>
public interface IStreamingDevice
{
    /// <summary>
    /// A CPU backend whose allocations this device copies from asynchronously (CUDA: pinned), to hold and update a
    /// streamed model's layers; the caller disposes it after the model.
    /// </summary>
    /// <exception cref="InvalidInputException">the device's settings would make a streamed run differ from a resident one.</exception>
    IBackend CreateHostBackend();

    /// <summary>A queue of copies into <paramref name="slots"/> device slots that runs beside the compute.</summary>
    ILayerTransfers OpenTransfers(int slots);
}

/// <summary>
/// Copies of host tensors into device slots, ordered against the compute: a slot's fill starts only after the compute
/// queued before it (which may still read the slot's previous contents), and compute queued after
/// <see cref="AwaitFill"/> starts only after that fill.
/// </summary>
public interface ILayerTransfers : IDisposable
{
    /// <summary>Starts filling <paramref name="slot"/>: the copies queued until <see cref="EndFill"/> wait for the compute queued so far.</summary>
    void BeginFill(int slot);

    /// <summary>Queues a copy of a host tensor (from the host backend the device made) into a device tensor of as many bytes.</summary>
    void Upload(Tensor hostSource, Tensor destination);

    void EndFill(int slot);

    /// <summary>Compute queued from now on waits for the slot's last fill.</summary>
    void AwaitFill(int slot);
}
