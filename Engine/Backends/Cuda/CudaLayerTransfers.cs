using MeZO.Engine.Backends.Cuda.Runtime;

namespace MeZO.Engine.Backends.Cuda;

/// <summary>A streamed model's slot fills on the GPU's copy queue, one marker per slot (<see cref="ILayerTransfers"/>).</summary>
internal sealed class CudaLayerTransfers(CudaBackend device, ITransferQueue queue) : ILayerTransfers
{
    public void BeginFill(int slot) => queue.WaitForCompute();

    public void Upload(Tensor hostSource, Tensor destination)
    {
        if (destination.Backend != device)
            throw new ArgumentException($"slot tensor '{destination.Name}' is not on this CUDA backend", nameof(destination));
        if (hostSource.ByteCount != destination.ByteCount)
            throw new ArgumentException($"'{hostSource.Name}' has {hostSource.ByteCount} bytes, its slot {destination.ByteCount}");
        queue.Upload(destination.Address, hostSource.Address, hostSource.ByteCount);
    }

    public void EndFill(int slot) => queue.Mark(slot);

    public void AwaitFill(int slot) => queue.ComputeWaitsFor(slot);

    public void Dispose() => queue.Dispose();
}
