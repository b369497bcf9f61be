using System.Runtime.CompilerServices;

namespace MeZO.Engine.Tensors;

/// <summary>
/// Element conversions between float32 and the 16-bit storage formats, one value at a time.
/// Rounding is round-to-nearest-even, as PyTorch and the CUDA intrinsics do, so a weight written by either side
/// reads back identically on the other.
/// </summary>
public static class ScalarConversions
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SingleToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u)
            return (ushort)((bits >> 16) | 0x0040u); // NaN stays a quiet NaN
        uint roundingBias = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + roundingBias) >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HalfToSingle(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SingleToHalf(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>Rounds a float32 to the nearest value the storage dtype can hold.</summary>
    public static float RoundTo(DType type, float value) => type switch
    {
        DType.F32 => value,
        DType.F16 => HalfToSingle(SingleToHalf(value)),
        DType.BF16 => BFloat16ToSingle(SingleToBFloat16(value)),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a floating-point storage type"),
    };
}
