using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Tests.Reference;

/// <summary>
/// A minimal safetensors writer for test checkpoints, independent of the engine's: an 8-byte little-endian header
/// length, a JSON header (name → dtype, shape, data_offsets relative to the end of the header, plus __metadata__),
/// padded with spaces to a multiple of 8 bytes as the reference implementation does, then the tensors' bytes back to
/// back in the order given.
/// </summary>
public static class SafetensorsTestWriter
{
    /// <summary>Writes <paramref name="tensors"/> (values already representable in <paramref name="type"/>) to <paramref name="path"/>.</summary>
    public static void Write(string path, DType type, IEnumerable<KeyValuePair<string, ReferenceTensor>> tensors)
    {
        var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
        var data = new MemoryStream();
        foreach (var (name, tensor) in tensors)
        {
            long begin = data.Length;
            foreach (float value in tensor.Values)
                WriteElement(data, type, value, name);
            header[name] = new JsonObject
            {
                ["dtype"] = type.SafetensorsName(),
                ["shape"] = new JsonArray(tensor.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(begin, data.Length),
            };
        }
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;
        using var file = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        file.Write(length);
        file.Write(json);
        for (int i = json.Length; i < padded; i++) file.WriteByte((byte)' ');
        data.Position = 0;
        data.CopyTo(file);
    }

    /// <summary>The number of bytes <paramref name="tensor"/> takes in <paramref name="type"/>.</summary>
    public static long ByteCount(DType type, ReferenceTensor tensor) => tensor.ElementCount * type.SizeOf();

    private static void WriteElement(Stream data, DType type, float value, string name)
    {
        if (ReferenceRounding.Round(type, value) != value)
            throw new ArgumentException($"tensor '{name}': {value:R} is not representable in {type}; round the values first");
        Span<byte> bytes = stackalloc byte[4];
        switch (type)
        {
            case DType.F32:
                BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
                data.Write(bytes[..4]);
                break;
            case DType.F16:
                BinaryPrimitives.WriteUInt16LittleEndian(bytes, ReferenceRounding.HalfBits(value));
                data.Write(bytes[..2]);
                break;
            case DType.BF16:
                BinaryPrimitives.WriteUInt16LittleEndian(bytes, ReferenceRounding.BFloat16Bits(value));
                data.Write(bytes[..2]);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "test checkpoints hold F32, F16 or BF16");
        }
    }
}
