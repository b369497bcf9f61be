using MeZO.Engine.Backends;

namespace MeZO.Engine.Models.Streaming;

/// <summary>
/// Slot fills for a device with no copy queue of its own (the CPU as the "device" in tests and benchmarks): each copy
/// is the device's ordinary upload, complete when it returns, so there is nothing to order.
/// </summary>
internal sealed class SynchronousTransfers(IBackend device) : ILayerTransfers
{
    public void BeginFill(int slot)
    {
    }

    /// <summary>Host bytes into the slot, in pieces a span can hold.</summary>
    public unsafe void Upload(Tensor hostSource, Tensor destination)
    {
        const long Piece = 1L << 30;
        byte* source = (byte*)hostSource.Address;
        for (long at = 0; at < hostSource.ByteCount; at += Piece)
            device.Upload(destination, at, new ReadOnlySpan<byte>(source + at, (int)Math.Min(Piece, hostSource.ByteCount - at)));
    }

    public void EndFill(int slot)
    {
    }

    public void AwaitFill(int slot)
    {
    }

    public void Dispose()
    {
    }
}
