using System.Buffers.Binary;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Tensors;

/// <summary>
/// NonFiniteScan against a plain per-element test (float.IsFinite of the decoded value), for lengths around every
/// vector width, a bad value at every position, and data that starts at an odd byte (as safetensors data may).
/// </summary>
[TestFixture]
public sealed class NonFiniteScanTests
{
    private static readonly float[] BadValues = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, BitConverter.Int32BitsToSingle(0x7F800001)];

    [Test]
    public void FindsTheFirstNonFiniteElementWhereverItIs([Values(DType.F32, DType.F16, DType.BF16)] DType type,
        [Values(0, 1, 7, 8, 15, 16, 17, 33, 64, 65, 129)] int length)
    {
        int size = type.SizeOf();
        var rng = new Random(length);
        // Finite values, including the largest finite ones (all-ones exponent minus one), whose bits lie next to ∞'s.
        float largest = type switch { DType.F32 => float.MaxValue, DType.F16 => 65504f, _ => BitConverter.Int32BitsToSingle(0x7F7F0000) };
        float[] values = Enumerable.Range(0, length).Select(i => i % 5 == 0 ? (i % 2 == 0 ? largest : -largest) : (float)(rng.NextDouble() * 8 - 4)).ToArray();
        Assert.That(NonFiniteScan.FirstIndex(Encode(values, type, offset: 1).AsSpan(1), type), Is.EqualTo(-1), "all finite");
        for (int at = 0; at < length; at++)
        {
            float[] damaged = (float[])values.Clone();
            damaged[at] = BadValues[at % BadValues.Length];
            if (at + 3 < length) damaged[at + 3] = float.NaN; // a later one does not change the answer
            byte[] bytes = Encode(damaged, type, offset: 1);
            long expected = Array.FindIndex(Decode(bytes.AsSpan(1), type), v => !float.IsFinite(v));
            Assert.That(NonFiniteScan.FirstIndex(bytes.AsSpan(1), type), Is.EqualTo(expected), $"bad value at {at}");
        }
    }

    /// <summary>Little-endian elements after <paramref name="offset"/> padding bytes.</summary>
    private static byte[] Encode(float[] values, DType type, int offset)
    {
        int size = type.SizeOf();
        var bytes = new byte[offset + values.Length * size];
        for (int i = 0; i < values.Length; i++)
        {
            var element = bytes.AsSpan(offset + i * size, size);
            uint bits = BitConverter.SingleToUInt32Bits(values[i]);
            switch (type)
            {
                case DType.F32: BinaryPrimitives.WriteUInt32LittleEndian(element, bits); break;
                case DType.F16: BinaryPrimitives.WriteUInt16LittleEndian(element, BitConverter.HalfToUInt16Bits((Half)values[i])); break;
                default: BinaryPrimitives.WriteUInt16LittleEndian(element, (ushort)(bits >> 16)); break; // truncation keeps NaN, ∞ and these values
            }
        }
        return bytes;
    }

    private static float[] Decode(ReadOnlySpan<byte> bytes, DType type)
    {
        int size = type.SizeOf();
        var values = new float[bytes.Length / size];
        for (int i = 0; i < values.Length; i++)
        {
            var element = bytes.Slice(i * size, size);
            values[i] = type switch
            {
                DType.F32 => BinaryPrimitives.ReadSingleLittleEndian(element),
                DType.F16 => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(element)),
                _ => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(element) << 16),
            };
        }
        return values;
    }
}
