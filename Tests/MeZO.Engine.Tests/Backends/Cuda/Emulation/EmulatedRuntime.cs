using System.Runtime.InteropServices;
using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Backends.Cuda.Compilation;
using MeZO.Engine.Backends.Cuda.Ops;
using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Tests.Backends.Cuda.Emulation;

/// <summary>
/// A device runtime whose "GPU" is the host: every Kernels/*.cu file compiled by g++ against cuda_emulation.h, device
/// memory in host allocations, launches run by the fiber scheduler. CudaBackend runs on it unchanged, so its argument
/// packing, launch shapes, path choices and fault handling, and every kernel's logic, are checked against the CPU
/// backend where no GPU exists. Every launch's arguments are checked against the kernel's own parameter list, which
/// cuLaunchKernel cannot do. With <paramref name="matrixProducts"/> (<see cref="EmulatedMatrixProducts"/>) the Linear
/// op takes its cuBLASLt path. What it cannot show: timing, the hardware's own arithmetic in intrinsics it does not use
/// (tensor-core accumulation order), and the driver's view of memory.
/// </summary>
internal sealed unsafe class EmulatedRuntime(int computeCapability, IMatrixProducts? matrixProducts = null) : IDeviceRuntime
{
    private static nint Library
    {
        get
        {
            string folder = HostCompiler.SourceFolder(); // this file's folder, beside cuda_emulation.*
            string generated = Path.Combine(HostCompiler.KernelFolder(), "emulated");
            Directory.CreateDirectory(generated);
            var sources = new List<string> { Path.Combine(folder, "cuda_emulation.cpp") };
            foreach (var file in KernelCatalog.All)
            {
                // One translation unit per kernel file, as NVRTC compiles them, with the launch geometry NVRTC gets as -D
                // options defined ahead of the file, plus an entry point per kernel.
                string unit = Path.Combine(generated, $"emulated_{Path.GetFileNameWithoutExtension(file.Name)}.cpp");
                File.WriteAllLines(unit, file.Defines.Select(d => $"#define {d.Name} {d.Value}")
                    .Concat(["#include \"cuda_emulation.h\"", $"#include \"{file.Name}\""])
                    .Concat(file.Kernels.Select(k => $"MEZO_EMULATED_KERNEL({k})")));
                sources.Add(unit);
            }
            return HostCompiler.Build("mezo-kernel-emulation", sources, "-std=c++20", "-I", folder);
        }
    }

    private readonly nint _library = Library;
    private readonly Dictionary<string, string> _signatures = [];

    /// <summary>The kernels launched so far, by name, in order: which path an op took, and that no conversion ran.</summary>
    public List<string> Launched { get; } = [];

    public string Description => $"host emulation of the CUDA kernels (g++, sm_{computeCapability} paths)";
    public int ComputeCapability => computeCapability;
    public int MultiprocessorCount => 1;
    public int MaxSharedBytesPerBlock => 227 * 1024;
    public IMatrixProducts? MatrixProducts => matrixProducts;

    public BackendMemory Allocate(long bytes, MemoryReport report, MemoryCategory category) =>
        new EmulatedMemory(bytes, report, category, hostAccessible: false);

    /// <summary>"Pinned" host memory: a host allocation the host backend reads and writes directly.</summary>
    public BackendMemory AllocatePinnedHost(long bytes, MemoryReport report, MemoryCategory category) =>
        new EmulatedMemory(bytes, report, category, hostAccessible: true);

    public ITransferQueue OpenTransferQueue(int markers) => new EmulatedTransferQueue(markers);

    public void Upload(nint destination, ReadOnlySpan<byte> source) => source.CopyTo(new Span<byte>((void*)destination, source.Length));

    public void Download(nint source, Span<byte> destination) => new ReadOnlySpan<byte>((void*)source, destination.Length).CopyTo(destination);

    public void Copy(nint destination, nint source, long bytes) => Buffer.MemoryCopy((void*)source, (void*)destination, bytes, bytes);

    public void Zero(nint destination, long bytes) => NativeMemory.Clear((void*)destination, (nuint)bytes);

    public DeviceKernel Kernel(KernelFile file, string name)
    {
        if (!file.Kernels.Contains(name)) throw new InvalidOperationException($"{name} is not listed for {file.Name} in KernelCatalog");
        return new DeviceKernel(file, name, NativeLibrary.GetExport(_library, "emu_" + name));
    }

    public void Launch(DeviceKernel kernel, LaunchShape shape, ReadOnlySpan<KernelArgument> arguments)
    {
        if (shape.Grid.X == 0 || shape.Grid.Y == 0 || shape.Grid.Z == 0 || shape.Grid.Y > 65535 || shape.Grid.Z > 65535)
            throw new InvalidOperationException($"{kernel}: grid {shape.Grid} is not launchable on a GPU");
        if (shape.SharedBytes > MaxSharedBytesPerBlock)
            throw new InvalidOperationException($"{kernel}: {shape.SharedBytes} bytes of shared memory exceed a GPU's {MaxSharedBytesPerBlock}");
        string parameters = Signature(kernel.Name), given = string.Concat(arguments.ToArray().Select(a => Letter(a.Kind)));
        if (given != parameters)
            throw new InvalidOperationException($"{kernel} takes ({Describe(parameters)}) but was launched with ({Describe(given)})");
        Launched.Add(kernel.Name);
        var native = new Shape(shape);
        var pointers = stackalloc void*[arguments.Length];
        fixed (KernelArgument* values = arguments)
        {
            for (int i = 0; i < arguments.Length; i++) pointers[i] = values + i;
            ((delegate* unmanaged<Shape*, void**, void>)kernel.Handle)(&native, pointers);
        }
    }

    public void Synchronize()
    {
    }

    /// <summary>The kernel's parameter list as emu_signature_&lt;kernel&gt; spells it (cuda_emulation.h).</summary>
    private string Signature(string kernel)
    {
        if (!_signatures.TryGetValue(kernel, out string? signature))
        {
            var read = (delegate* unmanaged<nint>)NativeLibrary.GetExport(_library, "emu_signature_" + kernel);
            _signatures[kernel] = signature = Marshal.PtrToStringAnsi(read())!;
        }
        return signature;
    }

    private static char Letter(KernelArgumentKind kind) => kind switch
    {
        KernelArgumentKind.Pointer => 'p',
        KernelArgumentKind.I32 => 'i',
        KernelArgumentKind.I64 => 'l',
        KernelArgumentKind.U64 => 'u',
        KernelArgumentKind.F32 => 'f',
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    private static string Describe(string letters) => string.Join(", ", letters.Select(c => c switch
    {
        'p' => "pointer",
        'i' => "int",
        'l' => "long long",
        'u' => "unsigned long long",
        'f' => "float",
        _ => "a type no launch can pass",
    }));

    public DeviceMemoryInfo MemoryInfo() => new(0, 0);

    public CudaGraph Capture(Action body) => throw new NotSupportedException("CUDA graphs need a GPU; the host emulation runs kernels at once");

    public void Dispose() => matrixProducts?.Dispose();

    /// <summary>
    /// The copy stream on the host: kernels run at once, so every compute queued before a fill has finished and each copy
    /// is done when it returns. What it checks is the protocol a GPU needs: a slot's fill is begun before its copies
    /// and marked after them, and compute only waits for a marker that was set, with no fill left open.
    /// </summary>
    private sealed class EmulatedTransferQueue(int markers) : ITransferQueue
    {
        private readonly bool[] _marked = new bool[markers];
        private bool _filling;

        public void WaitForCompute()
        {
            if (_filling) throw new InvalidOperationException("a fill began before the previous one was marked");
            _filling = true;
        }

        public void Upload(nint destination, nint pinnedSource, long bytes)
        {
            if (!_filling) throw new InvalidOperationException("a copy was queued outside a fill: it would not wait for the compute reading its slot");
            Buffer.MemoryCopy((void*)pinnedSource, (void*)destination, bytes, bytes);
        }

        public void Mark(int marker)
        {
            if (!_filling) throw new InvalidOperationException($"marker {marker} was set with no fill begun");
            _filling = false;
            _marked[marker] = true;
        }

        public void ComputeWaitsFor(int marker)
        {
            if (!_marked[marker] || _filling) throw new InvalidOperationException($"compute waits for marker {marker}, which no finished fill set");
        }

        public void Dispose()
        {
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private readonly struct Shape(LaunchShape shape)
    {
        public readonly uint GridX = shape.Grid.X, GridY = shape.Grid.Y, GridZ = shape.Grid.Z;
        public readonly uint BlockX = shape.Block.X, BlockY = shape.Block.Y, BlockZ = shape.Block.Z;
        public readonly uint SharedBytes = (uint)shape.SharedBytes;
    }

    /// <summary>
    /// "Device" memory: a host allocation the backend must not read directly (IsHostAccessible is false); or "pinned"
    /// host memory, zero-filled as CudaMemory zero-fills cuMemAllocHost's.
    /// </summary>
    private sealed class EmulatedMemory : BackendMemory
    {
        private readonly MemoryReport _report;
        private readonly MemoryCategory _category;

        public EmulatedMemory(long bytes, MemoryReport report, MemoryCategory category, bool hostAccessible) : base(bytes)
        {
            _report = report;
            _category = category;
            IsHostAccessible = hostAccessible;
            nuint size = (nuint)Math.Max(bytes, 1);
            SetHandle((nint)NativeMemory.AlignedAlloc(size, 256));
            if (hostAccessible) NativeMemory.Clear((void*)handle, size);
            report.Add(category, bytes);
        }

        public override bool IsHostAccessible { get; }

        protected override bool ReleaseHandle()
        {
            NativeMemory.AlignedFree((void*)handle);
            _report.Remove(_category, Bytes);
            return true;
        }
    }
}
