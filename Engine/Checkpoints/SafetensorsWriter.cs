using System.Buffers.Binary;
using System.Text.Json;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Checkpoints;

/// <summary>
/// Writes one .safetensors file so that a crash or a failure never leaves a half-written file at the destination:
/// the bytes go to a temporary file beside it, are flushed to disk, and the temporary file is renamed over the path.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>
    /// Writes <paramref name="tensors"/> (unique names) and optional string metadata to <paramref name="path"/>. Tensors
    /// are laid out by element size, largest first, then by name, so that every tensor starts at a multiple of its
    /// element size (the header is padded with spaces to 8 bytes), as the reference implementation lays them out.
    /// </summary>
    /// <exception cref="ArgumentException">duplicate tensor names or a null metadata value; nothing was written.</exception>
    /// <exception cref="IOException">writing failed (a byte source threw or wrote the wrong number of bytes, the disk is
    /// full, ...): the message names the path, the cause is the inner exception; <paramref name="path"/> is unchanged
    /// and no temporary file is left.</exception>
    public static void Write(string path, IEnumerable<TensorToWrite> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        Write(path, tensors, metadata, AtomicFile.CreateNew);

    internal static void Write(string path, IEnumerable<TensorToWrite> tensors, IReadOnlyDictionary<string, string>? metadata,
        Func<string, FileStream> createFile)
    {
        string fullPath = Path.GetFullPath(path);
        var ordered = tensors.OrderByDescending(t => t.DType.SizeOf()).ThenBy(t => t.Name, StringComparer.Ordinal).ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tensor in ordered)
        {
            if (!names.Add(tensor.Name))
                throw new ArgumentException($"{fullPath}: tensor '{tensor.Name}' is given twice", nameof(tensors));
        }
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            if (value is null)
                throw new ArgumentException($"{fullPath}: metadata '{key}' has no value; safetensors metadata values are strings", nameof(metadata));
        }
        byte[] header = Header(ordered, metadata);

        AtomicFile.Write(fullPath, stream =>
        {
            Span<byte> prefix = stackalloc byte[SafetensorsHeader.LengthPrefixBytes];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            stream.Write(prefix);
            stream.Write(header);
            foreach (var tensor in ordered) tensor.WriteTo(stream);
        }, createFile);
    }

    /// <summary>The JSON header with consecutive data offsets, padded with spaces so the data section starts 8-aligned.</summary>
    private static byte[] Header(IReadOnlyList<TensorToWrite> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata.OrderBy(m => m.Key, StringComparer.Ordinal))
                    json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var tensor in ordered)
            {
                json.WriteStartObject(tensor.Name);
                json.WriteString("dtype", tensor.DType.SafetensorsName());
                json.WriteStartArray("shape");
                foreach (long dim in tensor.ShapeSpan) json.WriteNumberValue(dim);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + tensor.ByteLength);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += tensor.ByteLength;
            }
            json.WriteEndObject();
        }
        while (buffer.Length % 8 != 0) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }
}
