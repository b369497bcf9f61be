using System.Text;
using MeZO.Engine.Backends.Cuda.Compilation;
using MeZO.Engine.Backends.Cuda.Native;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cuda.Runtime;

/// <summary>
/// The device runtime on a real GPU: the device's primary context, one non-blocking stream every op is queued to,
/// kernels compiled by NVRTC for the device (through the on-disk cache), copies staged through pinned host memory,
/// and cuBLASLt where installed.
/// </summary>
internal sealed unsafe class CudaDriverRuntime : IDeviceRuntime
{
    /// <summary>Two pinned staging buffers of 8 MiB: one fills while the other's copy is in flight.</summary>
    private const int StagingBytes = 8 << 20;

    private readonly CudaContextHandle _context;
    private readonly CudaStreamHandle _stream;
    private readonly NvrtcCompiler _compiler;
    private readonly KernelCache _cache;
    private readonly GpuArchitecture _target;
    private readonly Dictionary<string, CudaModuleHandle> _modules = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, string), DeviceKernel> _kernels = [];
    private readonly PinnedHostMemory[] _staging;
    private readonly CudaEventHandle[] _stagingFree;
    private readonly CublasLtProducts? _matrixProducts;
    private bool _capturing;

    private CudaDriverRuntime(CudaContextHandle context, CudaStreamHandle stream, NvrtcCompiler compiler, KernelCache cache,
        GpuArchitecture target, DeviceProperties device, CublasLtProducts? matrixProducts, string matrixNote, int driverVersion)
    {
        _context = context;
        _stream = stream;
        _compiler = compiler;
        _cache = cache;
        _target = target;
        _matrixProducts = matrixProducts;
        ComputeCapability = device.ComputeCapability;
        MultiprocessorCount = device.Multiprocessors;
        MaxSharedBytesPerBlock = device.MaxSharedBytesOptIn;
        _staging = [PinnedHostMemory.Allocate(context, StagingBytes), PinnedHostMemory.Allocate(context, StagingBytes)];
        _stagingFree = [CudaEventHandle.Create(context, timing: false), CudaEventHandle.Create(context, timing: false)];
        Description = $"{device.Name} (sm_{device.ComputeCapability}, {device.Multiprocessors} SMs, " +
                      $"{device.TotalBytes / (double)(1L << 30):F0} GiB), driver CUDA {driverVersion / 1000}.{driverVersion % 1000 / 10}, " +
                      $"NVRTC {compiler.Version} → {target.Option}, {matrixNote}";
    }

    public string Description { get; }
    public int ComputeCapability { get; }
    public int MultiprocessorCount { get; }
    public int MaxSharedBytesPerBlock { get; }
    public IMatrixProducts? MatrixProducts => _matrixProducts;

    /// <summary>
    /// Opens the device <paramref name="ordinalAmong"/> picks. Everything that can be missing (driver library, a GPU, NVRTC, an NVRTC
    /// that knows the GPU) is checked first and reported as one line naming what is missing.
    /// </summary>
    /// <param name="ordinalAmong">the device to open, given how many the driver sees</param>
    public static CudaDriverRuntime Open(Func<int, int> ordinalAmong, bool useCublasLt, string cacheDirectory, MemoryReport report)
    {
        var driver = CudaLibraries.Probe(CudaLibrary.Driver);
        if (!driver.Found)
            throw new InvalidInputException($"--backend cuda: the NVIDIA driver library is not installed: none of {driver.Describe()}; " +
                                            "use --backend cpu on a machine without an NVIDIA GPU");
        var init = CudaDriver.cuInit(0);
        if (init != CuResult.Success)
            throw new InvalidInputException($"--backend cuda: no CUDA device: cuInit reports {CudaDriver.ErrorName(init)} " +
                                            $"({CudaDriver.ErrorDescription(init)}); use --backend cpu");
        CudaException.ThrowIfFailed(CudaDriver.cuDeviceGetCount(out int count));
        if (count == 0) throw new InvalidInputException("--backend cuda: no CUDA device: the driver sees no GPU; use --backend cpu");
        int ordinal = ordinalAmong(count);
        if (ordinal < 0 || ordinal >= count)
            throw new InvalidInputException($"--backend cuda: device {ordinal} does not exist (this machine has {count})");
        CudaException.ThrowIfFailed(CudaDriver.cuDriverGetVersion(out int driverVersion));

        var compiler = NvrtcCompiler.TryLoad(out string nvrtcProblem)
            ?? throw new InvalidInputException($"--backend cuda: {nvrtcProblem}; install NVRTC (Debian: libnvrtc11.2, " +
                                               "pip: nvidia-cuda-nvrtc for CUDA 13, nvidia-cuda-nvrtc-cu12 for CUDA 12) or point MEZO_CUDA_LIBRARY_PATH at it");
        CudaException.ThrowIfFailed(CudaDriver.cuDeviceGet(out int device, ordinal));
        var properties = DeviceProperties.Query(device);
        var target = GpuArchitecture.Choose(properties.ComputeCapability, compiler.SupportedArchitectures)
            ?? throw new InvalidInputException($"--backend cuda: NVRTC {compiler.Version} cannot compile for {properties.Name} " +
                                               $"(sm_{properties.ComputeCapability})");

        var context = CudaContextHandle.Retain(device);
        CudaStreamHandle? stream = null;
        CublasLtProducts? products = null;
        try
        {
            context.MakeCurrent();
            stream = CudaStreamHandle.Create(context);
            string note = "matrix products on NVRTC kernels (cuBLASLt not requested)";
            products = useCublasLt ? CublasLtProducts.TryCreate(context, stream, report, out note) : null;
            return new CudaDriverRuntime(context, stream, compiler, new KernelCache(cacheDirectory), target, properties, products,
                note, driverVersion);
        }
        catch
        {
            products?.Dispose();
            stream?.Dispose();
            context.Dispose();
            throw;
        }
    }

    public BackendMemory Allocate(long bytes, MemoryReport report, MemoryCategory category)
    {
        if (_capturing)
            throw new InvalidOperationException($"allocating {bytes} bytes during CUDA graph capture: cuMemAlloc cannot be recorded; " +
                                                "allocate before capturing");
        return new CudaMemory(_context, bytes, report, category);
    }

    public BackendMemory AllocatePinnedHost(long bytes, MemoryReport report, MemoryCategory category) =>
        new CudaMemory(_context, bytes, report, category, pinnedHost: true);

    public ITransferQueue OpenTransferQueue(int markers)
    {
        NotCapturing(nameof(OpenTransferQueue));
        return new DriverTransferQueue(_context, _stream, markers);
    }

    public void Upload(nint destination, ReadOnlySpan<byte> source)
    {
        NotCapturing(nameof(Upload));
        _context.MakeCurrent();
        for (long offset = 0, chunk = 0; offset < source.Length; offset += StagingBytes, chunk++)
        {
            int i = (int)(chunk & 1), length = (int)Math.Min(StagingBytes, source.Length - offset);
            CudaException.ThrowIfFailed(CudaDriver.cuEventSynchronize(_stagingFree[i].Raw)); // its last copy has left
            source.Slice((int)offset, length).CopyTo(_staging[i].Span);
            CudaException.ThrowIfFailed(CudaDriver.cuMemcpyHtoDAsync((ulong)(destination + (nint)offset), (void*)_staging[i].Raw,
                (nuint)length, _stream.Raw));
            CudaException.ThrowIfFailed(CudaDriver.cuEventRecord(_stagingFree[i].Raw, _stream.Raw));
        }
    }

    public void Download(nint source, Span<byte> destination)
    {
        NotCapturing(nameof(Download));
        _context.MakeCurrent();
        for (long offset = 0; offset < destination.Length; offset += StagingBytes)
        {
            int length = (int)Math.Min(StagingBytes, destination.Length - offset);
            CudaException.ThrowIfFailed(CudaDriver.cuMemcpyDtoHAsync((void*)_staging[0].Raw, (ulong)(source + (nint)offset), (nuint)length,
                _stream.Raw));
            CudaException.ThrowIfFailed(CudaDriver.cuStreamSynchronize(_stream.Raw));
            _staging[0].Span[..length].CopyTo(destination.Slice((int)offset, length));
        }
    }

    public void Copy(nint destination, nint source, long bytes)
    {
        if (bytes == 0) return;
        _context.MakeCurrent();
        CudaException.ThrowIfFailed(CudaDriver.cuMemcpyDtoDAsync((ulong)destination, (ulong)source, (nuint)bytes, _stream.Raw));
    }

    public void Zero(nint destination, long bytes)
    {
        if (bytes == 0) return; // a zero-element tensor: no driver call to reject a zero count
        _context.MakeCurrent();
        CudaException.ThrowIfFailed(CudaDriver.cuMemsetD8Async((ulong)destination, 0, (nuint)bytes, _stream.Raw));
    }

    public DeviceKernel Kernel(KernelFile file, string name)
    {
        if (_kernels.TryGetValue((file.Name, name), out var known)) return known;
        if (_capturing)
            throw new InvalidOperationException($"{file.Name}:{name} is first used during CUDA graph capture, where its module cannot be " +
                                                "loaded; run the captured work once before capturing it");
        _context.MakeCurrent();
        if (!_modules.TryGetValue(file.Name, out var module)) _modules[file.Name] = module = LoadModule(file);
        var kernel = new DeviceKernel(file, name, module.Function(name));
        _kernels[(file.Name, name)] = kernel;
        return kernel;
    }

    /// <summary>Loads a file's module from the cache, compiling it first if needed; a cached image the driver refuses is recompiled once.</summary>
    private CudaModuleHandle LoadModule(KernelFile file)
    {
        var options = NvrtcCompiler.Options(file, _target);
        string key = KernelCache.Key(file, _target, options, _compiler.Version);
        if (_cache.TryRead(file, _target, key) is { } cached)
        {
            try
            {
                return CudaModuleHandle.Load(_context, cached, file.Name);
            }
            catch (CudaException)
            {
                _cache.Remove(file, _target, key);
            }
        }
        var compiled = _compiler.Compile(file, _target);
        var module = CudaModuleHandle.Load(_context, compiled.Image, file.Name);
        _cache.Write(file, _target, key, compiled.Image);
        return module;
    }

    public void Launch(DeviceKernel kernel, LaunchShape shape, ReadOnlySpan<KernelArgument> arguments)
    {
        _context.MakeCurrent();
        if (shape.SharedBytes > 48 * 1024 && shape.SharedBytes > kernel.SharedLimit)
        {
            // Above 48 KiB of dynamic shared memory a kernel must opt in, up to the device's limit.
            if (shape.SharedBytes > MaxSharedBytesPerBlock)
                throw new NotSupportedException($"{kernel} needs {shape.SharedBytes} bytes of shared memory; this GPU allows {MaxSharedBytesPerBlock}");
            CudaException.ThrowIfFailed(CudaDriver.cuFuncSetAttribute(kernel.Handle, CuFunctionAttribute.MaxDynamicSharedSizeBytes,
                shape.SharedBytes));
            kernel.SharedLimit = shape.SharedBytes;
        }
        var pointers = stackalloc void*[arguments.Length];
        fixed (KernelArgument* values = arguments)
        {
            for (int i = 0; i < arguments.Length; i++) pointers[i] = values + i;
            var result = CudaDriver.cuLaunchKernel(kernel.Handle, shape.Grid.X, shape.Grid.Y, shape.Grid.Z, shape.Block.X,
                shape.Block.Y, shape.Block.Z, (uint)shape.SharedBytes, _stream.Raw, pointers, null);
            if (result != CuResult.Success)
                throw CudaException.From(result, $"cuLaunchKernel({kernel}, grid {shape.Grid}, block {shape.Block}, {shape.SharedBytes} B shared)");
        }
    }

    public void Synchronize()
    {
        if (_capturing)
            throw new InvalidOperationException("waiting for the GPU during CUDA graph capture: nothing runs until the graph is " +
                                                "launched; synchronise after launching it");
        _context.MakeCurrent();
        CudaException.ThrowIfFailed(CudaDriver.cuStreamSynchronize(_stream.Raw));
    }

    public DeviceMemoryInfo MemoryInfo()
    {
        _context.MakeCurrent();
        CudaException.ThrowIfFailed(CudaDriver.cuMemGetInfo(out nuint free, out nuint total));
        return new DeviceMemoryInfo((long)free, (long)total);
    }

    public CudaGraph Capture(Action body)
    {
        _context.MakeCurrent();
        // Thread-local mode: only this thread's calls that cannot be recorded break the capture, so a tensor freed on
        // the finalizer thread meanwhile does not.
        CudaException.ThrowIfFailed(CudaDriver.cuStreamBeginCapture(_stream.Raw, CuStreamCaptureMode.ThreadLocal));
        _capturing = true;
        try
        {
            body();
        }
        catch
        {
            // End the capture so the stream is usable again and drop the partial graph; the body's error is the one to report.
            _capturing = false;
            if (CudaDriver.cuStreamEndCapture(_stream.Raw, out nint partial) == CuResult.Success && partial != 0)
                CudaDriver.cuGraphDestroy(partial);
            throw;
        }
        _capturing = false;
        var ended = CudaDriver.cuStreamEndCapture(_stream.Raw, out nint rawGraph);
        if (ended != CuResult.Success)
            throw CudaException.From(ended, "cuStreamEndCapture (an operation in the captured work could not be recorded)");
        var graph = new CudaGraphHandle(_context, rawGraph);
        try
        {
            var exec = CudaGraphExecHandle.Instantiate(_context, graph);
            return new CudaGraph(new GraphResources(graph, exec), () =>
            {
                ObjectDisposedException.ThrowIf(_stream.IsClosed, this); // its stream went with the backend
                _context.MakeCurrent();
                CudaException.ThrowIfFailed(CudaDriver.cuGraphLaunch(exec.Raw, _stream.Raw));
            });
        }
        catch
        {
            graph.Dispose();
            throw;
        }
    }

    private void NotCapturing(string operation)
    {
        if (_capturing)
            throw new InvalidOperationException($"{operation} during CUDA graph capture: copies between host and device cannot be recorded; " +
                                                "upload before capturing and download after launching");
    }

    public void Dispose()
    {
        // Queued work may still read the staging buffers, the cuBLASLt workspace or a module's code: let it finish. A
        // failure here can only be the sticky error of an earlier fault, which the call that met it has reported, and
        // Dispose must not throw over the exception that is usually on its way out.
        if (_context.TryMakeCurrent()) CudaDriver.cuStreamSynchronize(_stream.Raw);
        _matrixProducts?.Dispose();
        foreach (var module in _modules.Values) module.Dispose();
        _modules.Clear();
        _kernels.Clear();
        foreach (var e in _stagingFree) e.Dispose();
        foreach (var s in _staging) s.Dispose();
        _stream.Dispose();
        _context.Dispose();
    }

    private sealed class GraphResources(CudaGraphHandle graph, CudaGraphExecHandle exec) : IDisposable
    {
        public void Dispose()
        {
            exec.Dispose();
            graph.Dispose();
        }
    }

    /// <summary>The device facts the runtime and its description need.</summary>
    private sealed record DeviceProperties(string Name, int ComputeCapability, int Multiprocessors, int MaxSharedBytesOptIn, long TotalBytes)
    {
        public static DeviceProperties Query(int device)
        {
            var name = new byte[256];
            fixed (byte* p = name) CudaException.ThrowIfFailed(CudaDriver.cuDeviceGetName(p, name.Length, device));
            int Attribute(CuDeviceAttribute attribute)
            {
                CudaException.ThrowIfFailed(CudaDriver.cuDeviceGetAttribute(out int value, attribute, device));
                return value;
            }
            CudaException.ThrowIfFailed(CudaDriver.cuDeviceTotalMem(out nuint total, device));
            return new DeviceProperties(Encoding.UTF8.GetString(name).TrimEnd('\0'),
                Attribute(CuDeviceAttribute.ComputeCapabilityMajor) * 10 + Attribute(CuDeviceAttribute.ComputeCapabilityMinor),
                Attribute(CuDeviceAttribute.MultiprocessorCount), Attribute(CuDeviceAttribute.MaxSharedMemoryPerBlockOptin), (long)total);
        }
    }
}
