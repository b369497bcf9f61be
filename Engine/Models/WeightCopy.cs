using System.Runtime.InteropServices;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>
/// Moves weights between checkpoint files and backend tensors in chunks of whole elements, so that a tensor of any size
/// (an 8B model's embedding stored as F32 is 2.1 GB, more than a span or an array holds) moves with at most one
/// <see cref="StagingBuffer"/> chunk of host memory besides the file mapping and the tensor itself.
/// </summary>
internal static class WeightCopy
{
    /// <summary>
    /// Copies a checkpoint tensor into a backend tensor of as many elements, rounding to the destination's dtype on the
    /// host when the dtypes differ. Same dtype: straight from the file mapping, no staging (on the CPU backend each chunk
    /// is one copy from the mapping into the tensor).
    /// </summary>
    public static void Upload(CheckpointTensor source, Tensor destination, StagingBuffer staging)
    {
        if (source.ElementCount != destination.ElementCount)
            throw new ArgumentException(
                $"{source.FilePath}: tensor '{source.Name}' has {source.ElementCount} elements, '{destination.Name}' {destination.ElementCount}");
        if (source.DType == destination.DType) UploadBytes(source, destination, staging);
        else UploadConverted(source, destination, staging);
    }

    /// <summary>Writes a backend tensor's bytes to a stream, one chunk at a time through <paramref name="staging"/>.</summary>
    public static void Download(Tensor source, Stream destination, StagingBuffer staging)
    {
        int size = source.DType.SizeOf();
        Span<byte> buffer = staging.Take(staging.LargestChunk(source.ElementCount, size));
        foreach (var (first, count) in staging.Chunks(source.ElementCount, size))
        {
            Span<byte> chunk = buffer[..(count * size)];
            source.Backend.Download(source, first * size, chunk);
            destination.Write(chunk);
        }
    }

    private static void UploadBytes(CheckpointTensor source, Tensor destination, StagingBuffer staging)
    {
        int size = source.DType.SizeOf();
        foreach (var (first, count) in staging.Chunks(source.ElementCount, size))
            destination.Backend.Upload(destination, first * size, source.BytesAt(first * size, count * size));
    }

    /// <summary>
    /// Each chunk is widened to float32 (exact from every dtype), then rounded once to the destination dtype (to
    /// nearest, ties to even) into the second part of the buffer; an F32 destination takes the float32 values as they are.
    /// </summary>
    private static void UploadConverted(CheckpointTensor source, Tensor destination, StagingBuffer staging)
    {
        DType type = destination.DType;
        if (!type.IsFloatingPoint())
            throw new ArgumentException($"cannot store parameter '{destination.Name}' as {type}");
        int narrowSize = type == DType.F32 ? 0 : type.SizeOf();
        int bytesPerElement = sizeof(float) + narrowSize;
        Span<byte> buffer = staging.Take(staging.LargestChunk(source.ElementCount, bytesPerElement));
        int most = buffer.Length / bytesPerElement;
        Span<float> singles = MemoryMarshal.Cast<byte, float>(buffer[..(most * sizeof(float))]);
        Span<ushort> narrow = MemoryMarshal.Cast<byte, ushort>(buffer[(most * sizeof(float))..]);
        foreach (var (first, count) in staging.Chunks(source.ElementCount, bytesPerElement))
        {
            Span<float> values = singles[..count];
            source.CopyToSingles(first, values);
            if (type == DType.F32)
            {
                destination.Backend.Upload(destination, first * sizeof(float), MemoryMarshal.AsBytes(values));
                continue;
            }
            Span<ushort> bits = narrow[..count];
            ushort infinity = type == DType.F16 ? (ushort)0x7C00 : (ushort)0x7F80;
            for (int i = 0; i < count; i++)
            {
                bits[i] = type == DType.F16 ? ScalarConversions.SingleToHalf(values[i]) : ScalarConversions.SingleToBFloat16(values[i]);
                // A finite weight that rounds to ±∞ would poison every forward pass and every update after it.
                if ((bits[i] & 0x7FFF) == infinity && float.IsFinite(values[i]))
                    throw new InvalidInputException(
                        $"{source.FilePath}: tensor '{source.Name}' holds {values[i]:G9} (element {first + i}), beyond the largest finite {type} value; " +
                        $"keep it in {source.DType}{(type == DType.F16 ? " or use bf16" : "")}");
            }
            destination.Backend.Upload(destination, first * narrowSize, MemoryMarshal.AsBytes(bits));
        }
    }
}
