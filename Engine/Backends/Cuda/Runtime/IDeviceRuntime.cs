using MeZO.Engine.Backends.Cuda.Compilation;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cuda.Runtime;

/// <summary>Free and total bytes of device memory, as the driver sees them (all processes included).</summary>
public readonly record struct DeviceMemoryInfo(long Free, long Total);

/// <summary>
/// What <see cref="CudaBackend"/> needs from a device: memory, copies, kernels, launches in one ordered queue.
/// <see cref="CudaDriverRuntime"/> provides it on a GPU; the tests provide it with the same kernel sources compiled
/// for the host, so the backend's launch logic runs and is checked against the CPU where no GPU exists.
/// </summary>
internal interface IDeviceRuntime : IDisposable
{
    /// <summary>One line: the device, its compute capability and memory, the driver and NVRTC versions.</summary>
    string Description { get; }

    /// <summary>major·10 + minor, e.g. 90 for an H100 or H200.</summary>
    int ComputeCapability { get; }

    int MultiprocessorCount { get; }

    /// <summary>The most dynamic shared memory one block may be given (after raising a kernel's limit).</summary>
    int MaxSharedBytesPerBlock { get; }

    /// <summary>cuBLASLt, where it is installed; null means the NVRTC kernels compute every matrix product.</summary>
    IMatrixProducts? MatrixProducts { get; }

    BackendMemory Allocate(long bytes, MemoryReport report, MemoryCategory category);

    /// <summary>
    /// Page-locked host memory, host-accessible and zero-filled, counted in <paramref name="report"/> (the host backend's,
    /// not the device's): what <see cref="OpenTransferQueue"/>'s copies read without staging.
    /// </summary>
    BackendMemory AllocatePinnedHost(long bytes, MemoryReport report, MemoryCategory category);

    /// <summary>A copy queue beside the compute queue, with <paramref name="markers"/> markers to order the two by.</summary>
    ITransferQueue OpenTransferQueue(int markers);

    /// <summary>Queues a copy of host bytes to device memory; the source may be reused as soon as this returns.</summary>
    void Upload(nint destination, ReadOnlySpan<byte> source);

    /// <summary>Copies device bytes to the host after all queued work; returns when they are there.</summary>
    void Download(nint source, Span<byte> destination);

    void Copy(nint destination, nint source, long bytes);

    void Zero(nint destination, long bytes);

    /// <summary>A kernel of one of the embedded files, compiled (or taken from the cache) and loaded on first use.</summary>
    DeviceKernel Kernel(KernelFile file, string name);

    /// <summary>Queues a kernel. Arguments are in the kernel's parameter order and types.</summary>
    void Launch(DeviceKernel kernel, LaunchShape shape, ReadOnlySpan<KernelArgument> arguments);

    /// <summary>Waits for everything queued.</summary>
    void Synchronize();

    DeviceMemoryInfo MemoryInfo();

    /// <summary>Records the work <paramref name="body"/> queues into a graph instead of running it.</summary>
    CudaGraph Capture(Action body);
}
