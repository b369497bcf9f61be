using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;

namespace MeZO.Engine.Tests.Models;

/// <summary>One tensor exactly as a file stores it: dtype name, shape and raw bytes.</summary>
internal sealed record StoredTensor(string DType, long[] Shape, byte[] Bytes);

/// <summary>
/// The raw tensors of every .safetensors file in a model folder, parsed here from the format's definition (length prefix,
/// JSON header, data offsets) rather than by the engine's reader, so that a bit-for-bit comparison does not trust the
/// code under test. For small test folders: each file is read whole.
/// </summary>
internal static class StoredTensors
{
    public static Dictionary<string, StoredTensor> Read(string folder)
    {
        var tensors = new Dictionary<string, StoredTensor>(StringComparer.Ordinal);
        foreach (string path in Directory.EnumerateFiles(folder, "*.safetensors"))
        {
            byte[] file = File.ReadAllBytes(path);
            int headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
            int dataStart = 8 + headerLength;
            using var header = JsonDocument.Parse(Encoding.UTF8.GetString(file, 8, headerLength));
            foreach (var entry in header.RootElement.EnumerateObject().Where(e => e.Name != "__metadata__"))
            {
                long[] offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt64()).ToArray();
                tensors.Add(entry.Name, new StoredTensor(
                    entry.Value.GetProperty("dtype").GetString()!,
                    entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(),
                    file[(dataStart + (int)offsets[0])..(dataStart + (int)offsets[1])]));
            }
        }
        return tensors;
    }

    /// <summary>Little-endian bytes of <paramref name="values"/> rounded to <paramref name="type"/> by the test's reference rounding.</summary>
    public static byte[] Encode(DType type, IEnumerable<float> values)
    {
        var bytes = new List<byte>();
        Span<byte> element = stackalloc byte[4];
        foreach (float v in values)
        {
            int size = type.SizeOf();
            switch (type)
            {
                case DType.F32:
                    BinaryPrimitives.WriteSingleLittleEndian(element, v);
                    break;
                case DType.F16:
                    BinaryPrimitives.WriteUInt16LittleEndian(element, ReferenceRounding.HalfBits(v));
                    break;
                case DType.BF16:
                    BinaryPrimitives.WriteUInt16LittleEndian(element, ReferenceRounding.BFloat16Bits(v));
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(type), type, "not a weight dtype");
            }
            bytes.AddRange(element[..size]);
        }
        return bytes.ToArray();
    }
}
