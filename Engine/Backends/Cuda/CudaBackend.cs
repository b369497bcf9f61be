using System.Runtime.InteropServices;
using MeZO.Engine.Backends.Cuda.Compilation;
using MeZO.Engine.Backends.Cuda.Ops;
using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Mezo;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cuda;

/// <summary>
/// The GPU backend: every op is an NVRTC kernel (Kernels/*.cu) or a cuBLASLt product, queued on one stream, with
/// float32 activations and weights of any float dtype, exactly the CPU backend's semantics (it is tested against it).
/// Each op validates its arguments through <see cref="OpContracts"/>, as the CPU backend does, then launches in the
/// per-op classes of Cuda/Ops. Ops are asynchronous: <see cref="Download{T}"/> and <see cref="Synchronize"/> wait,
/// and raise any bad index a kernel found in device data (an embedding id, a row, a target) as the ArgumentException
/// the CPU would have thrown at once, and a MeZO update beyond a 16-bit dtype's range as its OverflowException.
/// The backward ops (<see cref="IBackwardOps"/>) are in CudaBackend.Backward.cs.
/// </summary>
public sealed partial class CudaBackend : IBackend
{
    private readonly IDeviceRuntime _runtime;
    private readonly BackendMemory _fault; // DeviceFault: four int32
    private readonly FaultSubjects _faultSubjects = new();
    private bool _capturing;
    private bool _disposed;

    internal CudaBackend(IDeviceRuntime runtime, CudaBackendOptions options, MemoryReport memory)
    {
        _runtime = runtime;
        Options = options;
        Memory = memory;
        Scratch = new CudaScratch(runtime, memory);
        PerturbedWeight = new CudaScratch(runtime, memory);
        _fault = runtime.Allocate(DeviceFault.Ints * sizeof(int), memory, MemoryCategory.Workspace);
        runtime.Zero(_fault.DangerousGetHandle(), _fault.Bytes);
    }

    /// <summary>
    /// Opens the GPU named by <paramref name="options"/> (default: <see cref="CudaBackendOptions.FromEnvironment"/>).
    /// No driver, no GPU or no NVRTC is an <see cref="InvalidInputException"/> whose one-line message says which.
    /// </summary>
    public static CudaBackend Create(CudaBackendOptions? options = null)
    {
        options ??= CudaBackendOptions.FromEnvironment();
        var memory = new MemoryReport();
        var runtime = CudaDriverRuntime.Open(options.OrdinalAmong, options.UseCublasLt,
            options.KernelCacheDirectory ?? KernelCache.DefaultDirectory(), memory);
        try
        {
            return new CudaBackend(runtime, options, memory);
        }
        catch
        {
            runtime.Dispose();
            throw;
        }
    }

    public string Name => "cuda";

    /// <summary>The device, driver, NVRTC target and matrix-product library, in one line.</summary>
    public string Description => _runtime.Description;

    public CudaBackendOptions Options { get; }

    public MemoryReport Memory { get; }

    /// <summary>A 16-bit model computes in its own dtype: half the activation bytes, products at the 16-bit tensor-core rate.</summary>
    public DType DefaultCompute(DType weights) => weights;

    /// <summary>Free and total device memory as the driver reports it (every process included).</summary>
    public DeviceMemoryInfo DeviceMemory => _runtime.MemoryInfo();

    internal IDeviceRuntime Runtime => _runtime;
    internal CudaScratch Scratch { get; }

    /// <summary>
    /// PerturbedLinear's float32 W + scale·z, the size of the largest weight it has perturbed: apart from
    /// <see cref="Scratch"/>, which the product it feeds may reserve for its own operands.
    /// </summary>
    internal CudaScratch PerturbedWeight { get; }

    internal bool Capturing => _capturing;
    internal nint FaultAddress => _fault.DangerousGetHandle();

    /// <summary>Queues one kernel of an embedded file.</summary>
    internal void Launch(KernelFile file, string kernel, LaunchShape shape, params ReadOnlySpan<KernelArgument> arguments) =>
        _runtime.Launch(_runtime.Kernel(file, kernel), shape, arguments);

    public Tensor Allocate(TensorShape shape, DType dtype, MemoryCategory category, string name)
    {
        ThrowIfDisposed();
        var memory = _runtime.Allocate(shape.ElementCount * dtype.SizeOf(), Memory, category);
        _runtime.Zero(memory.DangerousGetHandle(), memory.Bytes); // zero-filled, as the CPU backend's
        return new Tensor(this, memory, shape, dtype, name, category);
    }

    public void Upload<T>(Tensor destination, ReadOnlySpan<T> source) where T : unmanaged
    {
        ThrowIfDisposed();
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(source);
        OpContracts.Upload(this, destination, bytes.Length);
        _runtime.Upload(destination.Address, bytes);
    }

    public void Download<T>(Tensor source, Span<T> destination) where T : unmanaged
    {
        ThrowIfDisposed();
        Span<byte> bytes = MemoryMarshal.AsBytes(destination);
        OpContracts.Download(this, source, bytes.Length);
        _runtime.Download(source.Address, bytes);
        ThrowIfFaulted();
    }

    public void Upload(Tensor destination, long byteOffset, ReadOnlySpan<byte> source)
    {
        ThrowIfDisposed();
        OpContracts.UploadRange(this, destination, byteOffset, source.Length);
        _runtime.Upload(destination.Address + (nint)byteOffset, source);
    }

    public void Download(Tensor source, long byteOffset, Span<byte> destination)
    {
        ThrowIfDisposed();
        OpContracts.DownloadRange(this, source, byteOffset, destination.Length);
        _runtime.Download(source.Address + (nint)byteOffset, destination);
        ThrowIfFaulted();
    }

    public void Synchronize()
    {
        ThrowIfDisposed();
        _runtime.Synchronize();
        ThrowIfFaulted();
    }

    /// <summary>
    /// Records the ops <paramref name="body"/> issues into a CUDA graph instead of running them. Run the same work
    /// once before capturing (kernels are compiled and workspaces sized then); uploads and downloads are refused
    /// inside the body.
    /// </summary>
    public CudaGraph Capture(Action body)
    {
        ThrowIfDisposed();
        _capturing = true;
        try
        {
            return _runtime.Capture(body);
        }
        finally
        {
            _capturing = false;
        }
    }

    public void Embedding(Tensor table, Tensor ids, Tensor output, bool accumulate)
    {
        ThrowIfDisposed();
        OpContracts.Embedding(this, table, ids, output);
        CudaRows.Embedding(this, table, ids, output, accumulate);
    }

    public void LayerNorm(Tensor x, Tensor weight, Tensor? bias, float eps, Tensor output)
    {
        ThrowIfDisposed();
        OpContracts.LayerNorm(this, x, weight, bias, output);
        CudaNorms.LayerNorm(this, x, weight, bias, eps, output);
    }

    public void RmsNorm(Tensor x, Tensor weight, float eps, Tensor output)
    {
        ThrowIfDisposed();
        OpContracts.RmsNorm(this, x, weight, output);
        CudaNorms.RmsNorm(this, x, weight, eps, output);
    }

    public void Linear(Tensor x, Tensor weight, bool weightTransposed, Tensor? bias, Tensor output, LinearEpilogue epilogue = default)
    {
        ThrowIfDisposed();
        OpContracts.Linear(this, x, weight, weightTransposed, bias, output, epilogue);
        CudaLinear.Run(this, x, weight, weightTransposed, bias, output, epilogue);
    }

    public void Rope(Tensor x, Tensor positions, Tensor invFrequencies)
    {
        ThrowIfDisposed();
        OpContracts.Rope(this, x, positions, invFrequencies);
        CudaRope.Apply(this, x, positions, invFrequencies);
    }

    public void KvAppend(Tensor keys, Tensor values, Tensor keyCache, Tensor valueCache, int pastLength)
    {
        ThrowIfDisposed();
        OpContracts.KvAppend(this, keys, values, keyCache, valueCache, pastLength);
        CudaRows.KvAppend(this, keys, values, keyCache, valueCache, pastLength);
    }

    public void Attention(Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength, float scale, int window,
        Tensor output)
    {
        ThrowIfDisposed();
        OpContracts.Attention(this, q, keyCache, valueCache, keyMask, pastLength, output);
        CudaAttention.Causal(this, q, keyCache, valueCache, keyMask, pastLength, scale, window, output);
    }

    public void Activation(ActivationKind kind, Tensor x)
    {
        ThrowIfDisposed();
        OpContracts.Activation(this, x);
        CudaElementwise.Activation(this, kind, x);
    }

    public void SiluMul(Tensor gate, Tensor up)
    {
        ThrowIfDisposed();
        OpContracts.SiluMul(this, gate, up);
        CudaElementwise.SiluMul(this, gate, up);
    }

    public void Add(Tensor x, Tensor y)
    {
        ThrowIfDisposed();
        OpContracts.Add(this, x, y);
        CudaElementwise.Add(this, x, y);
    }

    public void AddScaled(Tensor x, Tensor y, float scale)
    {
        ThrowIfDisposed();
        OpContracts.AddScaled(this, x, y, scale);
        CudaElementwise.AddScaled(this, x, y, scale);
    }

    public void SliceColumns(Tensor x, int start, Tensor output)
    {
        ThrowIfDisposed();
        OpContracts.SliceColumns(this, x, start, output);
        CudaRows.SliceColumns(this, x, start, output);
    }

    public void GatherRows(Tensor x, Tensor rows, Tensor output)
    {
        ThrowIfDisposed();
        OpContracts.GatherRows(this, x, rows, output);
        CudaRows.Gather(this, x, rows, output);
    }

    public void LogSoftmaxGather(Tensor logits, Tensor targets, Tensor output)
    {
        ThrowIfDisposed();
        OpContracts.LogSoftmaxGather(this, logits, targets, output);
        CudaLogits.LogSoftmaxGather(this, logits, targets, output);
    }

    public void Argmax(Tensor logits, Tensor output)
    {
        ThrowIfDisposed();
        OpContracts.Argmax(this, logits, output);
        CudaLogits.Argmax(this, logits, output);
    }

    public void LogSoftmaxAccumulate(Tensor logits, Tensor targets, int firstColumn, Tensor state)
    {
        ThrowIfDisposed();
        OpContracts.LogSoftmaxAccumulate(this, logits, targets, firstColumn, state);
        CudaLogits.LogSoftmaxAccumulate(this, logits, targets, firstColumn, state);
    }

    public void PerturbedCopy(Tensor weight, TensorNoise noise, float scale, Tensor destination)
    {
        ThrowIfDisposed();
        OpContracts.PerturbedCopy(this, weight, destination);
        CudaPerturbation.Copy(this, weight, noise, scale, destination);
    }

    public void PerturbedEmbedding(Tensor table, TensorNoise noise, float scale, Tensor ids, Tensor output, bool accumulate)
    {
        ThrowIfDisposed();
        OpContracts.Embedding(this, table, ids, output);
        CudaPerturbation.Embedding(this, table, noise, scale, ids, output, accumulate);
    }

    public void PerturbedLinear(Tensor weight, bool weightTransposed, TensorNoise noise, ReadOnlySpan<float> scales,
        ReadOnlySpan<Tensor> inputs, ReadOnlySpan<Tensor?> biases, ReadOnlySpan<Tensor> outputs, ReadOnlySpan<LinearEpilogue> epilogues = default)
    {
        ThrowIfDisposed();
        OpContracts.PerturbedLinear(this, weight, weightTransposed, scales, inputs, biases, outputs, epilogues);
        CudaPerturbation.Linear(this, weight, weightTransposed, noise, scales, inputs, biases, outputs, epilogues);
    }

    /// <summary>A result beyond the dtype's range is found on the GPU and raised at the next synchronisation.</summary>
    public void MezoUpdate(Tensor weight, TensorNoise noise, UpdateFactors factors)
    {
        ThrowIfDisposed();
        OpContracts.MezoUpdate(this, weight);
        CudaPerturbation.Update(this, weight, noise, factors, _faultSubjects.Number(weight));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _runtime.Dispose(); // first: it waits for queued work, which may still use the scratch or the fault record
        Scratch.Dispose();
        PerturbedWeight.Dispose();
        _gradientScratch?.Dispose();
        _fault.Dispose();
    }

    /// <summary>Raises (and clears) the first fault a kernel recorded since the last check.</summary>
    private void ThrowIfFaulted()
    {
        Span<int> record = stackalloc int[DeviceFault.Ints];
        _runtime.Download(FaultAddress, MemoryMarshal.AsBytes(record));
        var fault = new DeviceFault(record[0], record[1], record[2], record[3]);
        if (!fault.IsSet) return;
        _runtime.Zero(FaultAddress, _fault.Bytes);
        throw fault.ToException(_faultSubjects);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
