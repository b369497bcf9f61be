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
    /// is one copy from the mapping into the tensor). Copied bytes leave the process's resident memory at once (the
    /// mapping's pages are released), so a model is resident once, not twice, while it loads. Every element is checked for NaN and ±∞ on the way: the first one
    /// found is an <see cref="InvalidInputException"/> naming the file, the tensor and the element.
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

    /// <summary>
    /// Bytes checked for NaN and ±∞ and then copied in one go: 1 MiB stays in the L2 cache between the scan and the copy,
    /// so the check costs no second trip to memory, and is large beside the per-call cost of an upload.
    /// </summary>
    private const int CheckedPieceBytes = 1 << 20;

    private static void UploadBytes(CheckpointTensor source, Tensor destination, StagingBuffer staging)
    {
        int size = source.DType.SizeOf();
        int perPiece = CheckedPieceBytes / size;
        foreach (var (first, count) in staging.Chunks(source.ElementCount, size))
        {
            for (long piece = first; piece < first + count; piece += perPiece)
            {
                int n = (int)Math.Min(perPiece, first + count - piece);
                var bytes = source.BytesAt(piece * size, n * size);
                ThrowIfNonFinite(source, piece, bytes);
                destination.Backend.Upload(destination, piece * size, bytes);
                source.ReleasePages(piece * size, n * size);
            }
        }
    }

    /// <summary>
    /// Refuses a weight that is NaN or ±∞ in the file: it would make every forward pass non-finite, far from its cause.
    /// <paramref name="bytes"/> are the raw elements from <paramref name="firstElement"/> on.
    /// </summary>
    private static void ThrowIfNonFinite(CheckpointTensor source, long firstElement, ReadOnlySpan<byte> bytes)
    {
        long bad = NonFiniteScan.FirstIndex(bytes, source.DType);
        if (bad < 0) return;
        var value = new float[1];
        source.CopyToSingles(firstElement + bad, value);
        string what = float.IsNaN(value[0]) ? "NaN" : value[0] > 0 ? "+∞" : "−∞";
        throw new InvalidInputException(
            $"{source.FilePath}: tensor '{source.Name}' holds {what} at element {firstElement + bad}; weights must be finite");
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
        int sourceSize = source.DType.SizeOf();
        int perPiece = CheckedPieceBytes / sourceSize;
        foreach (var (first, count) in staging.Chunks(source.ElementCount, bytesPerElement))
        {
            for (long piece = first; piece < first + count; piece += perPiece)
            {
                int n = (int)Math.Min(perPiece, first + count - piece);
                ThrowIfNonFinite(source, piece, source.BytesAt(piece * sourceSize, n * sourceSize));
            }
            Span<float> values = singles[..count];
            source.CopyToSingles(first, values);
            if (type == DType.F32)
            {
                destination.Backend.Upload(destination, first * sizeof(float), MemoryMarshal.AsBytes(values));
                source.ReleasePages(first * sourceSize, (long)count * sourceSize);
                continue;
            }
            Span<ushort> bits = narrow[..count];
            ushort infinity = type == DType.F16 ? (ushort)0x7C00 : (ushort)0x7F80;
            for (int i = 0; i < count; i++)
            {
                bits[i] = type == DType.F16 ? ScalarConversions.SingleToHalf(values[i]) : ScalarConversions.SingleToBFloat16(values[i]);
                // The source is finite (checked above); one that rounds to ±∞ would poison every forward pass and update.
                if ((bits[i] & 0x7FFF) == infinity)
                    throw new InvalidInputException(
                        $"{source.FilePath}: tensor '{source.Name}' holds {values[i]:G9} (element {first + i}), beyond the largest finite {type} value; " +
                        $"keep it in {source.DType}{(type == DType.F16 ? " or use bf16" : "")}");
            }
            destination.Backend.Upload(destination, first * narrowSize, MemoryMarshal.AsBytes(bits));
            source.ReleasePages(first * sourceSize, (long)count * sourceSize);
        }
    }
}
