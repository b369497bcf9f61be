using MeZO.Engine.Tensors;

namespace MeZO.Engine.Checkpoints;

/// <summary>
/// One tensor of a safetensors header. <see cref="DataStart"/> and <see cref="DataEnd"/> are byte offsets relative to
/// the data section, which begins right after the 8-byte length and the JSON header.
/// </summary>
public sealed record SafetensorsEntry(string Name, DType DType, long[] Shape, long DataStart, long DataEnd)
{
    public long ByteLength => DataEnd - DataStart;

    /// <summary>The product of the dimensions; 1 for a 0-d scalar, 0 when a dimension is 0.</summary>
    public long ElementCount => SafetensorsHeader.ElementCount(Shape);
}
