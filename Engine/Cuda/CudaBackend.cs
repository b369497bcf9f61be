using System.Runtime.InteropServices;
using MeZO.Engine.Backends;
using MeZO.Engine.Cuda.Compilation;
using MeZO.Engine.Cuda.Ops;
using MeZO.Engine.Cuda.Runtime;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Cuda;

/// <summary>
/// The GPU backend: every op is an NVRTC kernel (Kernels/*.cu) or a cuBLASLt product, queued on one stream, with
/// float32 activations and weights of any float dtype, exactly the CPU backend's semantics (it is tested against it).
/// Ops validate shapes here, as the CPU backend does, then launch in the per-op classes of Cuda/Ops. Ops are
/// asynchronous: <see cref="Download{T}"/> and <see cref="Synchronize"/> wait, and raise any bad index a kernel found
/// in device data (an embedding id, a row, a target) as the ArgumentException the CPU would have thrown at once.
/// </summary>
public sealed class CudaBackend : IBackend
{
    private readonly IDeviceRuntime _runtime;
    private readonly BackendMemory _fault; // DeviceFault: four int32
    private bool _capturing;
    private bool _disposed;

    internal CudaBackend(IDeviceRuntime runtime, CudaBackendOptions options, MemoryReport memory)
    {
        _runtime = runtime;
        Options = options;
        Memory = memory;
        Scratch = new CudaScratch(runtime, memory);
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
        var runtime = CudaDriverRuntime.Open(options.Device, options.UseCublasLt,
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

    /// <summary>Free and total device memory as the driver reports it (every process included).</summary>
    public DeviceMemoryInfo DeviceMemory => _runtime.MemoryInfo();

    internal IDeviceRuntime Runtime => _runtime;
    internal CudaScratch Scratch { get; }
    internal bool Capturing => _capturing;
    internal nint FaultAddress => _fault.DangerousGetHandle();

    /// <summary>Queues one kernel of an embedded file.</summary>
    internal void Launch(KernelFile file, string kernel, LaunchShape shape, params ReadOnlySpan<KernelArgument> arguments) =>
        _runtime.Launch(_runtime.Kernel(file, kernel), shape, arguments);

    public Tensor Allocate(TensorShape shape, DType dtype, MemoryCategory category, string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var memory = _runtime.Allocate(shape.ElementCount * dtype.SizeOf(), Memory, category);
        _runtime.Zero(memory.DangerousGetHandle(), memory.Bytes); // zero-filled, as the CPU backend's
        return new Tensor(this, memory, shape, dtype, name, category);
    }

    public void Upload<T>(Tensor destination, ReadOnlySpan<T> source) where T : unmanaged
    {
        Own(nameof(Upload), destination);
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(source);
        if (bytes.Length != destination.ByteCount)
            throw new ArgumentException($"Upload: {bytes.Length} bytes do not fit '{destination.Name}' ({destination.ByteCount} bytes)");
        _runtime.Upload(destination.Address, bytes);
    }

    public void Download<T>(Tensor source, Span<T> destination) where T : unmanaged
    {
        Own(nameof(Download), source);
        Span<byte> bytes = MemoryMarshal.AsBytes(destination);
        if (bytes.Length != source.ByteCount)
            throw new ArgumentException($"Download: '{source.Name}' ({source.ByteCount} bytes) does not fit {bytes.Length} bytes");
        _runtime.Download(source.Address, bytes);
        ThrowIfFaulted();
    }

    public void Synchronize()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
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
        ObjectDisposedException.ThrowIf(_disposed, this);
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
        const string op = nameof(Embedding);
        Own(op, table, ids, output);
        ShapeChecks.Rank(table, 2, op);
        ShapeChecks.Float(table, op);
        ShapeChecks.Type(ids, DType.I32, op);
        ShapeChecks.Type(output, DType.F32, op);
        ShapeChecks.Elements(output, ids.ElementCount * table.Shape[1], op);
        CudaRows.Embedding(this, table, ids, output, accumulate);
    }

    public void LayerNorm(Tensor x, Tensor weight, Tensor? bias, float eps, Tensor output)
    {
        const string op = nameof(LayerNorm);
        Own(op, x, weight, output);
        if (bias is not null) Own(op, bias);
        CheckNorm(op, x, weight, output);
        if (bias is not null)
        {
            ShapeChecks.Float(bias, op);
            ShapeChecks.Elements(bias, x.Shape[-1], op);
        }
        CudaNorms.LayerNorm(this, x, weight, bias, eps, output);
    }

    public void RmsNorm(Tensor x, Tensor weight, float eps, Tensor output)
    {
        const string op = nameof(RmsNorm);
        Own(op, x, weight, output);
        CheckNorm(op, x, weight, output);
        CudaNorms.RmsNorm(this, x, weight, eps, output);
    }

    public void Linear(Tensor x, Tensor weight, bool weightTransposed, Tensor? bias, Tensor output)
    {
        const string op = nameof(Linear);
        Own(op, x, weight, output);
        ShapeChecks.Type(x, DType.F32, op);
        ShapeChecks.Type(output, DType.F32, op);
        ShapeChecks.Rank(weight, 2, op);
        ShapeChecks.Float(weight, op);
        int k = x.Shape[-1];
        int n = weightTransposed ? weight.Shape[1] : weight.Shape[0];
        int weightK = weightTransposed ? weight.Shape[0] : weight.Shape[1];
        if (weightK != k)
            throw new ArgumentException($"{op}: '{x.Name}' {x.Shape} has {k} features but weight '{weight.Name}' {weight.Shape} expects {weightK}");
        ShapeChecks.Dim(output, -1, n, op);
        ShapeChecks.Elements(output, x.Shape.Rows * n, op);
        if (bias is not null)
        {
            Own(op, bias);
            ShapeChecks.Float(bias, op);
            ShapeChecks.Elements(bias, n, op);
        }
        CudaLinear.Run(this, x, weight, weightTransposed, bias, output);
    }

    public void Rope(Tensor x, Tensor positions, Tensor invFrequencies)
    {
        const string op = nameof(Rope);
        Own(op, x, positions, invFrequencies);
        ShapeChecks.Rank(x, 4, op);
        ShapeChecks.Type(x, DType.F32, op);
        ShapeChecks.Type(positions, DType.I32, op);
        ShapeChecks.Type(invFrequencies, DType.F32, op);
        ShapeChecks.Elements(positions, (long)x.Shape[0] * x.Shape[1], op);
        if (2 * invFrequencies.ElementCount > x.Shape[3])
            throw new ArgumentException(
                $"{op}: '{invFrequencies.Name}' rotates {2 * invFrequencies.ElementCount} features, more than the head width {x.Shape[3]} of '{x.Name}'");
        CudaRope.Apply(this, x, positions, invFrequencies);
    }

    public void KvAppend(Tensor keys, Tensor values, Tensor keyCache, Tensor valueCache, int pastLength)
    {
        const string op = nameof(KvAppend);
        Own(op, keys, values, keyCache, valueCache);
        foreach (var t in new[] { keys, values, keyCache, valueCache })
        {
            ShapeChecks.Rank(t, 4, op);
            ShapeChecks.Type(t, DType.F32, op);
        }
        ShapeChecks.SameShape(keys, values, op);
        ShapeChecks.SameShape(keyCache, valueCache, op);
        if (keys.Shape[0] != keyCache.Shape[0] || keys.Shape[2] != keyCache.Shape[2] || keys.Shape[3] != keyCache.Shape[3])
            throw new ArgumentException($"{op}: '{keys.Name}' {keys.Shape} does not match the (batch, heads, width) of '{keyCache.Name}' {keyCache.Shape}");
        CheckCapacity(op, keyCache, pastLength, keys.Shape[1]);
        CudaRows.KvAppend(this, keys, values, keyCache, valueCache, pastLength);
    }

    public void Attention(Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength, float scale, Tensor output)
    {
        const string op = nameof(Attention);
        Own(op, q, keyCache, valueCache, keyMask, output);
        foreach (var t in new[] { q, keyCache, valueCache, output })
        {
            ShapeChecks.Rank(t, 4, op);
            ShapeChecks.Type(t, DType.F32, op);
        }
        ShapeChecks.SameShape(q, output, op);
        ShapeChecks.SameShape(keyCache, valueCache, op);
        ShapeChecks.Type(keyMask, DType.I32, op);
        int batch = q.Shape[0], length = q.Shape[1], heads = q.Shape[2], headDim = q.Shape[3];
        int capacity = keyCache.Shape[1], kvHeads = keyCache.Shape[2];
        ShapeChecks.Dim(keyCache, 0, batch, op);
        ShapeChecks.Dim(keyCache, 3, headDim, op);
        ShapeChecks.Elements(keyMask, (long)batch * capacity, op);
        if (kvHeads == 0 || heads % kvHeads != 0)
            throw new ArgumentException($"{op}: the {heads} heads of '{q.Name}' are not a multiple of the {kvHeads} heads of '{keyCache.Name}'");
        CheckCapacity(op, keyCache, pastLength, length);
        CudaAttention.Causal(this, q, keyCache, valueCache, keyMask, pastLength, scale, output);
    }

    public void Activation(ActivationKind kind, Tensor x)
    {
        Own(nameof(Activation), x);
        ShapeChecks.Type(x, DType.F32, nameof(Activation));
        CudaElementwise.Activation(this, kind, x);
    }

    public void SiluMul(Tensor gate, Tensor up)
    {
        const string op = nameof(SiluMul);
        Own(op, gate, up);
        ShapeChecks.Type(gate, DType.F32, op);
        ShapeChecks.Type(up, DType.F32, op);
        ShapeChecks.Elements(up, gate.ElementCount, op);
        CudaElementwise.SiluMul(this, gate, up);
    }

    public void Add(Tensor x, Tensor y)
    {
        const string op = nameof(Add);
        Own(op, x, y);
        ShapeChecks.Type(x, DType.F32, op);
        ShapeChecks.Type(y, DType.F32, op);
        ShapeChecks.Elements(y, x.ElementCount, op);
        CudaElementwise.Add(this, x, y);
    }

    public void SliceColumns(Tensor x, int start, Tensor output)
    {
        const string op = nameof(SliceColumns);
        Own(op, x, output);
        ShapeChecks.Type(x, DType.F32, op);
        ShapeChecks.Type(output, DType.F32, op);
        int width = output.Shape[-1];
        if (start < 0 || start + width > x.Shape[-1])
            throw new ArgumentException($"{op}: columns [{start}, {start + width}) are outside '{x.Name}' {x.Shape}");
        ShapeChecks.Elements(output, x.Shape.Rows * width, op);
        CudaRows.SliceColumns(this, x, start, output);
    }

    public void GatherRows(Tensor x, Tensor rows, Tensor output)
    {
        const string op = nameof(GatherRows);
        Own(op, x, rows, output);
        ShapeChecks.Type(x, DType.F32, op);
        ShapeChecks.Type(output, DType.F32, op);
        ShapeChecks.Type(rows, DType.I32, op);
        ShapeChecks.Elements(output, rows.ElementCount * x.Shape[-1], op);
        CudaRows.Gather(this, x, rows, output);
    }

    public void LogSoftmaxGather(Tensor logits, Tensor targets, Tensor output)
    {
        const string op = nameof(LogSoftmaxGather);
        Own(op, logits, targets, output);
        ShapeChecks.Type(logits, DType.F32, op);
        ShapeChecks.Type(targets, DType.I32, op);
        ShapeChecks.Type(output, DType.F32, op);
        ShapeChecks.Elements(targets, logits.Shape.Rows, op);
        ShapeChecks.Elements(output, logits.Shape.Rows, op);
        CudaLogits.LogSoftmaxGather(this, logits, targets, output);
    }

    public void Argmax(Tensor logits, Tensor output)
    {
        const string op = nameof(Argmax);
        Own(op, logits, output);
        ShapeChecks.Type(logits, DType.F32, op);
        ShapeChecks.Type(output, DType.I32, op);
        ShapeChecks.Elements(output, logits.Shape.Rows, op);
        CudaLogits.Argmax(this, logits, output);
    }

    public void Perturb(Tensor weight, ulong seed, ulong firstIndex, float scale)
    {
        Own(nameof(Perturb), weight);
        ShapeChecks.Float(weight, nameof(Perturb));
        CudaPerturbation.Perturb(this, weight, seed, firstIndex, scale);
    }

    public void PerturbUpdate(Tensor weight, ulong seed, ulong firstIndex, float eps, float learningRate, float weightDecay,
        float projectedGradient)
    {
        Own(nameof(PerturbUpdate), weight);
        ShapeChecks.Float(weight, nameof(PerturbUpdate));
        CudaPerturbation.PerturbUpdate(this, weight, seed, firstIndex, eps, learningRate, weightDecay, projectedGradient);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Scratch.Dispose();
        _fault.Dispose();
        _runtime.Dispose();
    }

    /// <summary>Raises (and clears) the first bad index a kernel recorded since the last check.</summary>
    private void ThrowIfFaulted()
    {
        Span<int> record = stackalloc int[DeviceFault.Ints];
        _runtime.Download(FaultAddress, MemoryMarshal.AsBytes(record));
        var fault = new DeviceFault(record[0], record[1], record[2], record[3]);
        if (!fault.IsSet) return;
        _runtime.Zero(FaultAddress, _fault.Bytes);
        throw fault.ToException();
    }

    private static void CheckNorm(string op, Tensor x, Tensor weight, Tensor output)
    {
        ShapeChecks.Type(x, DType.F32, op);
        ShapeChecks.Type(output, DType.F32, op);
        ShapeChecks.Float(weight, op);
        ShapeChecks.SameShape(x, output, op);
        ShapeChecks.Elements(weight, x.Shape[-1], op);
    }

    private static void CheckCapacity(string op, Tensor cache, int pastLength, int length)
    {
        if (pastLength < 0 || pastLength + length > cache.Shape[1])
            throw new ArgumentException($"{op}: {pastLength} cached + {length} new positions exceed the capacity {cache.Shape[1]} of '{cache.Name}'");
    }

    private void Own(string op, params ReadOnlySpan<Tensor> tensors)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var t in tensors) ShapeChecks.Owned(this, t, op);
    }
}
