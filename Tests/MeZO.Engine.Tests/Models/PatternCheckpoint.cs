using System.Buffers.Binary;
using System.Text.Json.Nodes;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// A one-layer Llama of width <see cref="Hidden"/> with a tied embedding of any vocabulary: the embedding is as large as
/// a test needs (2³⁰ + 64 elements for a vocabulary of 2²⁴ + 1) while every other tensor stays tiny. Each element's bits
/// are a hash of (tensor name, index), written and checked by streaming, so a tensor of gigabytes is checked anywhere,
/// in any chunking, without holding its values.
/// </summary>
internal static class PatternCheckpoint
{
    public const int Hidden = 64;
    public const string Embedding = "model.embed_tokens.weight";

    /// <summary>Writes config.json and model.safetensors (through the engine's SafetensorsWriter) into <paramref name="folder"/>.</summary>
    public static void Write(string folder, int vocab, DType type)
    {
        Directory.CreateDirectory(folder);
        var config = new JsonObject
        {
            ["model_type"] = "llama",
            ["vocab_size"] = vocab,
            ["hidden_size"] = Hidden,
            ["intermediate_size"] = 8,
            ["num_hidden_layers"] = 1,
            ["num_attention_heads"] = 1,
            ["max_position_embeddings"] = 16,
            ["tie_word_embeddings"] = true,
        };
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        var tensors = WeightPlan.For(ModelConfigReader.Read(folder))
            .Select(w => TensorToWrite.FromWriter(w.Name, type, w.LongShape, stream => WriteHeld(stream, w.Name, type, type, w.ElementCount)));
        SafetensorsWriter.Write(Path.Combine(folder, "model.safetensors"), tensors);
    }

    /// <summary>
    /// Writes the bytes a tensor stored as <paramref name="stored"/> holds once loaded as <paramref name="held"/>: the
    /// stored bits themselves when the dtypes agree, else their value rounded by the test's reference rounding.
    /// </summary>
    public static void WriteHeld(Stream destination, string name, DType stored, DType held, long elements)
    {
        uint seed = Seed(name);
        int size = held.SizeOf();
        var buffer = new byte[(1 << 16) * size];
        for (long first = 0; first < elements; first += 1 << 16)
        {
            int count = (int)Math.Min(1 << 16, elements - first);
            for (int j = 0; j < count; j++)
            {
                uint bits = Bits(stored, seed, first + j);
                Span<byte> element = buffer.AsSpan(j * size, size);
                if (held == stored)
                {
                    if (size == 4) BinaryPrimitives.WriteUInt32LittleEndian(element, bits);
                    else BinaryPrimitives.WriteUInt16LittleEndian(element, (ushort)bits);
                    continue;
                }
                float value = stored switch
                {
                    DType.F32 => BitConverter.UInt32BitsToSingle(bits),
                    DType.F16 => ReferenceRounding.HalfToSingle((ushort)bits),
                    _ => ReferenceRounding.BFloat16ToSingle((ushort)bits),
                };
                switch (held)
                {
                    case DType.F32: BinaryPrimitives.WriteSingleLittleEndian(element, value); break;
                    case DType.F16: BinaryPrimitives.WriteUInt16LittleEndian(element, ReferenceRounding.HalfBits(value)); break;
                    default: BinaryPrimitives.WriteUInt16LittleEndian(element, ReferenceRounding.BFloat16Bits(value)); break;
                }
            }
            destination.Write(buffer, 0, count * size);
        }
    }

    /// <summary>
    /// The stored bits of element <paramref name="index"/>: a multiplicative hash, so that an element copied to the wrong
    /// place (a chunk off by one, an offset in elements taken as bytes) shows. The top exponent bit is cleared, which
    /// keeps every value finite (|x| &lt; 2 in every format) and so valid input to the reference rounding.
    /// </summary>
    private static uint Bits(DType type, uint seed, long index)
    {
        uint h = (uint)(((ulong)index * 0x9E3779B97F4A7C15UL) >> 32) ^ seed;
        h *= 0x85EBCA6B;
        h ^= h >> 13;
        return type == DType.F32 ? h & 0xBFFF_FFFF : (h >> 16) & 0xBFFF;
    }

    /// <summary>FNV-1a of the name: stable across processes, unlike string.GetHashCode.</summary>
    private static uint Seed(string name)
    {
        uint h = 2166136261;
        foreach (char c in name) h = (h ^ c) * 16777619;
        return h;
    }
}
