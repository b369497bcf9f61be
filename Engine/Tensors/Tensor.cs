using System.Runtime.CompilerServices;
using MeZO.Engine.Backends;

namespace MeZO.Engine.Tensors;

/// <summary>
/// A shaped, typed window on memory owned by one backend. A tensor either owns its allocation (and frees it on
/// <see cref="Dispose"/>) or is a view that keeps its parent alive. Ops take tensors; only the backend that
/// allocated a tensor may run ops on it.
/// </summary>
public sealed class Tensor : IDisposable
{
    private readonly BackendMemory _memory;
    private readonly long _byteOffset;
    private readonly Tensor? _parent;
    private bool _disposed;

    internal Tensor(IBackend backend, BackendMemory memory, TensorShape shape, DType dtype, string name, MemoryCategory category)
        : this(backend, memory, 0, shape, dtype, name, category, parent: null)
    {
    }

    private Tensor(IBackend backend, BackendMemory memory, long byteOffset, TensorShape shape, DType dtype, string name,
        MemoryCategory category, Tensor? parent)
    {
        if (byteOffset < 0 || byteOffset + shape.ElementCount * dtype.SizeOf() > memory.Bytes)
            throw new ArgumentOutOfRangeException(nameof(shape),
                $"tensor '{name}' {shape} {dtype} at byte {byteOffset} does not fit its {memory.Bytes}-byte allocation");
        Backend = backend;
        _memory = memory;
        _byteOffset = byteOffset;
        Shape = shape;
        DType = dtype;
        Name = name;
        Category = category;
        _parent = parent;
    }

    public IBackend Backend { get; }
    public TensorShape Shape { get; }
    public DType DType { get; }
    public string Name { get; }
    public MemoryCategory Category { get; }
    public long ElementCount => Shape.ElementCount;
    public long ByteCount => Shape.ElementCount * DType.SizeOf();

    /// <summary>Start of the tensor's bytes: a host pointer on the CPU backend, a device address on CUDA.</summary>
    public nint Address
    {
        get
        {
            ThrowIfDisposed();
            return _memory.DangerousGetHandle() + (nint)_byteOffset;
        }
    }

    /// <summary>A view of <paramref name="shape"/> starting <paramref name="elementOffset"/> elements in.</summary>
    public Tensor View(TensorShape shape, long elementOffset = 0, string? name = null)
    {
        ThrowIfDisposed();
        long offset = _byteOffset + elementOffset * DType.SizeOf();
        if (elementOffset < 0 || elementOffset + shape.ElementCount > ElementCount)
            throw new ArgumentOutOfRangeException(nameof(shape),
                $"view {shape} at element {elementOffset} exceeds tensor '{Name}' {Shape}");
        return new Tensor(Backend, _memory, offset, shape, DType, name ?? Name, Category, this);
    }

    /// <summary>
    /// A view of another dtype over this tensor's bytes: how one arena allocation is carved into tensors of mixed dtypes.
    /// </summary>
    public Tensor ViewBytes(long byteOffset, TensorShape shape, DType dtype, string name)
    {
        ThrowIfDisposed();
        if (byteOffset < 0 || byteOffset + shape.ElementCount * dtype.SizeOf() > ByteCount)
            throw new ArgumentOutOfRangeException(nameof(byteOffset),
                $"view '{name}' {shape} {dtype} at byte {byteOffset} exceeds tensor '{Name}' ({ByteCount} bytes)");
        return new Tensor(Backend, _memory, _byteOffset + byteOffset, shape, dtype, name, Category, this);
    }

    /// <summary>Direct access to host-resident elements (CPU backend only).</summary>
    public unsafe Span<T> AsSpan<T>() where T : unmanaged
    {
        if (!_memory.IsHostAccessible)
            throw new InvalidOperationException($"tensor '{Name}' lives on {Backend.Name}; download it to read it on the host");
        if (Unsafe.SizeOf<T>() != DType.SizeOf())
            throw new InvalidOperationException($"tensor '{Name}' holds {DType}, not {typeof(T).Name}");
        if (ElementCount > int.MaxValue)
            throw new InvalidOperationException($"tensor '{Name}' has {ElementCount} elements, more than a span can hold; copy it in ranges");
        return new Span<T>((void*)Address, (int)ElementCount);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_parent is null) _memory.Dispose();
    }

    private void ThrowIfDisposed()
    {
        for (Tensor? t = this; t is not null; t = t._parent)
            ObjectDisposedException.ThrowIf(t._disposed, this);
    }

    public override string ToString() => $"{Name} {Shape} {DType}";
}
