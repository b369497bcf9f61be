using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Tests.Reference;

/// <summary>
/// A minimal safetensors reader for the reference side of the tests (the oracle on real checkpoints, and the round
/// trip of <see cref="SafetensorsTestWriter"/>), independent of the engine's reader. Floating-point tensors only;
/// integer buffers are skipped.
/// </summary>
public static class SafetensorsTestReader
{
    /// <summary>Every float tensor of a single file, widened to float32 (exact for F16 and BF16).</summary>
    public static Dictionary<string, ReferenceTensor> Read(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        if (file.Length < 8) throw new InvalidDataException($"{path}: shorter than the 8-byte header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > (ulong)(file.Length - 8)) throw new InvalidDataException($"{path}: header length {headerLength} exceeds the file");
        long dataStart = 8 + (long)headerLength;
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(file, 8, (int)headerLength));
        var tensors = new Dictionary<string, ReferenceTensor>();
        foreach (var entry in header.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__") continue;
            if (!DTypeInfo.TryParseSafetensorsName(entry.Value.GetProperty("dtype").GetString()!, out var type))
                throw new InvalidDataException($"{path}: tensor '{entry.Name}' has an unknown dtype");
            if (!type.IsFloatingPoint()) continue;
            int[] shape = entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
            long[] offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            long count = shape.Aggregate(1L, (c, d) => c * d);
            if (offsets[1] - offsets[0] != count * type.SizeOf() || dataStart + offsets[1] > file.Length)
                throw new InvalidDataException($"{path}: tensor '{entry.Name}' has byte range {offsets[0]}..{offsets[1]} that does not fit its shape or the file");
            var bytes = file.AsSpan((int)(dataStart + offsets[0]), (int)(offsets[1] - offsets[0]));
            float[] values = new float[count];
            for (int i = 0; i < count; i++)
                values[i] = type switch
                {
                    DType.F32 => BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]),
                    DType.F16 => ReferenceRounding.HalfToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..])),
                    _ => ReferenceRounding.BFloat16ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..])),
                };
            tensors[entry.Name] = new ReferenceTensor(shape, values);
        }
        return tensors;
    }

    /// <summary>The header's dtype names by tensor (to check what a writer stored).</summary>
    public static Dictionary<string, string> DTypes(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> length = stackalloc byte[8];
        stream.ReadExactly(length);
        byte[] json = new byte[BinaryPrimitives.ReadUInt64LittleEndian(length)];
        stream.ReadExactly(json);
        using var header = JsonDocument.Parse(json);
        return header.RootElement.EnumerateObject().Where(e => e.Name != "__metadata__")
            .ToDictionary(e => e.Name, e => e.Value.GetProperty("dtype").GetString()!);
    }

    /// <summary>All float tensors of a model folder: model.safetensors, or the shards named by model.safetensors.index.json.</summary>
    public static Dictionary<string, ReferenceTensor> ReadFolder(string folder)
    {
        string single = Path.Combine(folder, "model.safetensors");
        if (File.Exists(single)) return Read(single);
        string indexPath = Path.Combine(folder, "model.safetensors.index.json");
        if (!File.Exists(indexPath)) throw new FileNotFoundException($"{folder}: neither model.safetensors nor model.safetensors.index.json");
        using var index = JsonDocument.Parse(File.ReadAllText(indexPath));
        var tensors = new Dictionary<string, ReferenceTensor>();
        foreach (string shard in index.RootElement.GetProperty("weight_map").EnumerateObject().Select(e => e.Value.GetString()!).Distinct())
            foreach (var (name, tensor) in Read(Path.Combine(folder, shard)))
                tensors.Add(name, tensor);
        return tensors;
    }
}
