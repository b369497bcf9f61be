using MeZO.Engine.Tensors;

namespace MeZO.Engine.Tests.Reference;

/// <summary>
/// Rounding float32 to the 16-bit storage formats, written here independently of the engine's ScalarConversions so
/// that a rounding bug there cannot hide in both the engine and its reference. Round-to-nearest-even, as PyTorch does;
/// float16 uses the BCL's <see cref="Half"/> conversion, which is specified as round-to-nearest-even.
/// </summary>
public static class ReferenceRounding
{
    public static float Round(DType type, float value) => type switch
    {
        DType.F32 => value,
        DType.F16 => (float)(Half)value,
        DType.BF16 => BFloat16ToSingle(BFloat16Bits(value)),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a floating-point storage dtype"),
    };

    public static ushort HalfBits(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    public static float HalfToSingle(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>The bfloat16 nearest to <paramref name="value"/> (ties to even), as its 16 bits. Finite inputs only.</summary>
    public static ushort BFloat16Bits(float value)
    {
        if (!float.IsFinite(value)) throw new ArgumentOutOfRangeException(nameof(value), value, "test weights are finite");
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint upper = bits >> 16, lower = bits & 0xFFFF;
        // Above the halfway point, or exactly halfway with an odd upper half: round up (a carry into the exponent is
        // the correct next binade).
        if (lower > 0x8000 || (lower == 0x8000 && (upper & 1) == 1)) upper++;
        return (ushort)upper;
    }

    public static float BFloat16ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
