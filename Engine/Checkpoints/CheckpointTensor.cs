using System.Buffers.Binary;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Checkpoints;

/// <summary>One tensor of an open checkpoint: its header entry and the file that holds it. Valid while the reader is open.</summary>
public sealed class CheckpointTensor
{
    private readonly SafetensorsFile _file;
    private readonly SafetensorsEntry _entry;

    internal CheckpointTensor(SafetensorsFile file, SafetensorsEntry entry)
    {
        _file = file;
        _entry = entry;
    }

    public string Name => _entry.Name;
    public DType DType => _entry.DType;

    /// <summary>The dimensions, outermost first (a copy: changing it changes nothing here).</summary>
    public long[] Shape => (long[])_entry.Shape.Clone();

    /// <summary>The absolute path of the .safetensors file that holds the tensor.</summary>
    public string FilePath => _file.Path;

    // From the byte range, which the header validation tied to the shape and which no caller can change: every read
    // below stays inside the tensor even if someone edits the entry's shape array.
    public long ElementCount => _entry.ByteLength / _entry.DType.SizeOf();
    public long ByteLength => _entry.ByteLength;

    /// <summary>The raw little-endian bytes in the stored dtype.</summary>
    /// <exception cref="InvalidOperationException">the tensor is larger than 2 GiB; read it with <see cref="BytesAt"/>.</exception>
    public ReadOnlySpan<byte> Bytes => _file.GetBytes(_entry);

    /// <summary>Raw bytes [byteOffset, byteOffset + byteCount) of the tensor: a tensor of any size, read piece by piece.</summary>
    public ReadOnlySpan<byte> BytesAt(long byteOffset, int byteCount) => _file.GetBytes(_entry, byteOffset, byteCount);

    /// <summary>Takes raw bytes [byteOffset, byteOffset + byteCount), already copied elsewhere, out of resident memory; they stay readable.</summary>
    public void ReleasePages(long byteOffset, long byteCount) => _file.ReleasePages(_entry, byteOffset, byteCount);

    /// <summary>
    /// Converts the elements to float32 (exact for every F16 and BF16 value) into a span of exactly
    /// <see cref="ElementCount"/>. Reads through the mapping, so tensors over 2 GiB convert too.
    /// </summary>
    public void CopyToSingles(Span<float> destination)
    {
        if (destination.Length != ElementCount)
            throw new ArgumentException(
                $"{FilePath}: tensor '{Name}' has {ElementCount} elements but the destination has {destination.Length}", nameof(destination));
        CopyToSingles(0, destination);
    }

    /// <summary>
    /// Converts elements [firstElement, firstElement + destination.Length) to float32: a tensor of any size, converted
    /// piece by piece into a bounded buffer.
    /// </summary>
    public unsafe void CopyToSingles(long firstElement, Span<float> destination)
    {
        if (firstElement < 0 || firstElement > ElementCount - destination.Length)
            throw new ArgumentOutOfRangeException(nameof(firstElement),
                $"{FilePath}: tensor '{Name}': elements [{firstElement}, {firstElement + destination.Length}) are outside its {ElementCount}");
        // Reads go through BinaryPrimitives: mapped tensor data may be unaligned, and the format is little-endian.
        byte* source = _file.DataPointer(_entry) + firstElement * DType.SizeOf();
        switch (DType)
        {
            case DType.F32:
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = BinaryPrimitives.ReadSingleLittleEndian(new ReadOnlySpan<byte>(source + 4L * i, 4));
                break;
            case DType.F16:
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = ScalarConversions.HalfToSingle(BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(source + 2L * i, 2)));
                break;
            case DType.BF16:
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = ScalarConversions.BFloat16ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(source + 2L * i, 2)));
                break;
            default:
                throw new InvalidOperationException(
                    $"{FilePath}: tensor '{Name}' is {DType.SafetensorsName()}; only F32, F16 and BF16 convert to float32");
        }
    }
}
