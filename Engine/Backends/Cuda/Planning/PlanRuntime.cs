using MeZO.Engine.Backends.Cuda.Compilation;
using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cuda.Planning;

/// <summary>
/// A device runtime that runs nothing: CudaBackend runs unchanged on it, and every kernel launch and cuBLASLt product it
/// queues is recorded with its cost (<see cref="KernelCosts"/>) instead. Memory is address bookkeeping only — never
/// dereferenced, so a 13B model "fits" on any host — and downloads read zeros (a loss of the plan means nothing).
/// The device it reports is <paramref name="gpu"/>, so launch shapes and path choices are that GPU's.
/// </summary>
internal sealed class PlanRuntime(GpuSpec gpu, bool cublasLt) : IDeviceRuntime
{
    /// <summary>cuMemAlloc's alignment, which the backend's vectorised paths test addresses against.</summary>
    private const long Alignment = 256;

    private readonly List<RecordedWork> _recorded = [];
    private long _next = 1L << 40; // any nonzero address: nothing reads it
    private long _allocated;
    private IMatrixProducts? _products;

    public IReadOnlyList<RecordedWork> Recorded => _recorded;

    public void ClearRecorded() => _recorded.Clear();

    public string Description => $"plan of an {gpu.Name} (sm_{gpu.ComputeCapability}): launches recorded, nothing run";
    public int ComputeCapability => gpu.ComputeCapability;
    public int MultiprocessorCount => gpu.Multiprocessors;
    public int MaxSharedBytesPerBlock => gpu.MaxSharedBytesPerBlock;
    public IMatrixProducts? MatrixProducts => cublasLt ? _products ??= new PlanMatrixProducts(_recorded) : null;

    public BackendMemory Allocate(long bytes, MemoryReport report, MemoryCategory category)
    {
        nint address = (nint)_next;
        _next += (Math.Max(bytes, 1) + Alignment - 1) / Alignment * Alignment;
        _allocated += bytes;
        return new PlannedMemory(address, bytes, report, category, released => _allocated -= released);
    }

    public BackendMemory AllocatePinnedHost(long bytes, MemoryReport report, MemoryCategory category) =>
        throw new NotSupportedException("a plan does not stream layers from host memory (no pinned memory); plan the resident step");

    public ITransferQueue OpenTransferQueue(int markers) =>
        throw new NotSupportedException("a plan does not stream layers from host memory; plan the resident step");

    /// <summary>Host-to-device copies go over PCIe, not HBM: not part of the roofline, and nothing to keep.</summary>
    public void Upload(nint destination, ReadOnlySpan<byte> source)
    {
    }

    public void Download(nint source, Span<byte> destination) => destination.Clear();

    public void Copy(nint destination, nint source, long bytes) =>
        _recorded.Add(new RecordedWork("cuMemcpyDtoD", new WorkCost($"{bytes} bytes", bytes, bytes, 0, ComputePipe.Fp32), [destination, source]));

    public void Zero(nint destination, long bytes) =>
        _recorded.Add(new RecordedWork("cuMemsetD8", new WorkCost($"{bytes} bytes", 0, bytes, 0, ComputePipe.Fp32), [destination]));

    public DeviceKernel Kernel(KernelFile file, string name) =>
        file.Kernels.Contains(name) ? new DeviceKernel(file, name, 0)
            : throw new InvalidOperationException($"{name} is not listed for {file.Name} in KernelCatalog");

    public void Launch(DeviceKernel kernel, LaunchShape shape, ReadOnlySpan<KernelArgument> arguments)
    {
        var values = arguments.ToArray();
        var addresses = values.Where(a => a.Kind == KernelArgumentKind.Pointer).Select(a => (nint)a.Bits).ToArray();
        _recorded.Add(new RecordedWork(kernel.Name, KernelCosts.Of(new KernelCall(kernel.Name, shape, values)), addresses));
    }

    public void Synchronize()
    {
    }

    public DeviceMemoryInfo MemoryInfo() => new(Math.Max(0, gpu.MemoryBytes - _allocated), gpu.MemoryBytes);

    public CudaGraph Capture(Action body) => throw new NotSupportedException("a plan records launches one by one; it does not capture graphs");

    public void Dispose() => _products?.Dispose();

    /// <summary>An address range counted in the backend's memory report; there are no bytes behind it.</summary>
    private sealed class PlannedMemory : BackendMemory
    {
        private readonly MemoryReport _report;
        private readonly MemoryCategory _category;
        private readonly Action<long> _released;

        public PlannedMemory(nint address, long bytes, MemoryReport report, MemoryCategory category, Action<long> released) : base(bytes)
        {
            _report = report;
            _category = category;
            _released = released;
            SetHandle(address);
            report.Add(category, bytes);
        }

        public override bool IsHostAccessible => false;

        protected override bool ReleaseHandle()
        {
            _report.Remove(_category, Bytes);
            _released(Bytes);
            return true;
        }
    }
}
