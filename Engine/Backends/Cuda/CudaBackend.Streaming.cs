using MeZO.Engine.Backends.Cpu;

namespace MeZO.Engine.Backends.Cuda;

/// <summary>A model larger than the GPU: its layers in pinned host memory, copied in on a stream of their own (<see cref="IStreamingDevice"/>).</summary>
public sealed partial class CudaBackend : IStreamingDevice
{
    /// <summary>
    /// A CPU backend over pinned memory. It also runs the streamed layers' MeZO update, with the CPU's z, which the
    /// exact noise arithmetic reproduces bit for bit on the GPU; the fast one would make a streamed run differ.
    /// </summary>
    public IBackend CreateHostBackend()
    {
        ThrowIfDisposed();
        if (Options.Noise != NoiseArithmetic.Exact)
            throw new InvalidInputException("--max-device-memory with MEZO_CUDA_NOISE=fast: the host updates the streamed layers with the exact z, " +
                                            "so the run would differ from a resident one; unset MEZO_CUDA_NOISE");
        return new CpuBackend((bytes, report, category) => _runtime.AllocatePinnedHost(bytes, report, category));
    }

    public ILayerTransfers OpenTransfers(int slots)
    {
        ThrowIfDisposed();
        return new CudaLayerTransfers(this, _runtime.OpenTransferQueue(slots));
    }
}
