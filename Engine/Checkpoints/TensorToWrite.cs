using System.Buffers.Binary;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Checkpoints;

/// <summary>
/// What a safetensors writer writes: a name, a dtype, a shape and a source of exactly <see cref="ByteLength"/>
/// little-endian bytes. The source is read once, while the file is written.
/// </summary>
public sealed class TensorToWrite
{
    private readonly long[] _shape;
    private readonly Action<Stream> _writeBytes;

    private TensorToWrite(string name, DType dtype, long[] shape, Action<Stream> writeBytes)
    {
        ElementCount = CheckedElementCount(name, dtype, shape);
        Name = name;
        DType = dtype;
        _shape = (long[])shape.Clone();
        ByteLength = ElementCount * dtype.SizeOf();
        _writeBytes = writeBytes;
    }

    public string Name { get; }
    public DType DType { get; }
    public long[] Shape => (long[])_shape.Clone();
    public long ElementCount { get; }
    public long ByteLength { get; }

    /// <summary>Bytes already in the stored dtype; <paramref name="bytes"/> must stay unchanged until written.</summary>
    public static TensorToWrite FromBytes(string name, DType dtype, long[] shape, ReadOnlyMemory<byte> bytes)
    {
        var tensor = new TensorToWrite(name, dtype, shape, stream => stream.Write(bytes.Span));
        if (bytes.Length != tensor.ByteLength)
            throw new ArgumentException(
                $"tensor '{name}': {bytes.Length} bytes given, but shape ({string.Join(", ", shape)}) of {dtype.SafetensorsName()} needs {tensor.ByteLength}",
                nameof(bytes));
        return tensor;
    }

    /// <summary>float32 values rounded (to nearest, ties to even) to F16 or BF16, or stored as F32. Converted now.</summary>
    public static TensorToWrite FromSingles(string name, DType dtype, long[] shape, ReadOnlySpan<float> values)
    {
        if (!dtype.IsFloatingPoint())
            throw new ArgumentException($"tensor '{name}': float32 values cannot be stored as {dtype.SafetensorsName()}", nameof(dtype));
        long elements = CheckedElementCount(name, dtype, shape);
        if (values.Length != elements)
            throw new ArgumentException(
                $"tensor '{name}': {values.Length} values given, but shape ({string.Join(", ", shape)}) has {elements} elements",
                nameof(values));
        var bytes = new byte[checked(values.Length * dtype.SizeOf())];
        switch (dtype)
        {
            case DType.F32:
                for (int i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
                break;
            case DType.F16:
                for (int i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), ScalarConversions.SingleToHalf(values[i]));
                break;
            case DType.BF16:
                for (int i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), ScalarConversions.SingleToBFloat16(values[i]));
                break;
        }
        return new TensorToWrite(name, dtype, shape, stream => stream.Write(bytes));
    }

    /// <summary>
    /// <see cref="ByteLength"/> bytes of native (host) memory at <paramref name="address"/>, in the stored dtype. The caller
    /// keeps the memory alive and unchanged until the tensor is written.
    /// </summary>
    public static unsafe TensorToWrite FromPointer(string name, DType dtype, long[] shape, nint address)
    {
        if (address == 0)
            throw new ArgumentException($"tensor '{name}': the address is null", nameof(address));
        long byteLength = CheckedElementCount(name, dtype, shape) * dtype.SizeOf();
        return new TensorToWrite(name, dtype, shape, stream =>
        {
            // A span holds at most int.MaxValue bytes; a larger tensor is written in chunks.
            const int chunk = 1 << 30;
            byte* p = (byte*)address;
            for (long done = 0; done < byteLength; done += chunk)
                stream.Write(new ReadOnlySpan<byte>(p + done, (int)Math.Min(chunk, byteLength - done)));
        });
    }

    /// <summary>
    /// A source that writes exactly <see cref="ByteLength"/> bytes to the stream it is given (e.g. a backend tensor
    /// downloaded piece by piece). Writing more or fewer bytes fails the write.
    /// </summary>
    public static TensorToWrite FromWriter(string name, DType dtype, long[] shape, Action<Stream> writeBytes)
    {
        ArgumentNullException.ThrowIfNull(writeBytes);
        return new TensorToWrite(name, dtype, shape, writeBytes);
    }

    /// <summary>Writes the tensor's bytes, checking that the source delivers exactly <see cref="ByteLength"/>.</summary>
    internal void WriteTo(Stream destination)
    {
        using var counted = new ExactLengthStream(destination, ByteLength, Name);
        _writeBytes(counted);
        counted.CheckComplete();
    }

    /// <summary>The shape without a copy, for the header writer.</summary>
    internal ReadOnlySpan<long> ShapeSpan => _shape;

    private static long CheckedElementCount(string name, DType dtype, long[] shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name == SafetensorsHeader.MetadataKey)
            throw new ArgumentException($"'{SafetensorsHeader.MetadataKey}' is reserved and cannot name a tensor", nameof(name));
        if (!Enum.IsDefined(dtype))
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"tensor '{name}': unknown dtype");
        if (shape.Any(d => d < 0))
            throw new ArgumentException($"tensor '{name}': shape ({string.Join(", ", shape)}) has a negative dimension", nameof(shape));
        long elements = SafetensorsHeader.ElementCount(shape);
        if (elements < 0 || elements > long.MaxValue / dtype.SizeOf())
            throw new ArgumentException($"tensor '{name}': shape ({string.Join(", ", shape)}) is too large to address", nameof(shape));
        return elements;
    }
}
