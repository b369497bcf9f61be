using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Mezo;

/// <summary>
/// The rounding of a MeZO update to F16/BF16 storage (DESIGN §3): with v the float32 result and a ≤ v ≤ b the two
/// adjacent values of the storage dtype, store b when U &lt; (v − a)/(b − a), else a, so the expected stored value is
/// v exactly and an update far below half an ulp still moves the weight on average. U = (x_lane >> 8)·2⁻²⁴ with x
/// the Philox block (lo32(blk), hi32(blk), 1, <see cref="Domain"/>) of the element's index under the step key: a
/// stream of its own, indexed like z, so replay, resume and every backend draw the same bits.
/// This is the rule's one scalar definition; the CPU's vectorised pass and the CUDA kernel are tested against it.
/// </summary>
public static class StochasticRounding
{
    /// <summary>0x726F756E, the ASCII bytes of "roun": separates the rounding bits from z's stream (counter words 0, 0).</summary>
    public const uint Domain = 0x726F_756Eu;

    /// <summary>Counter word 2 of the rounding stream.</summary>
    public const uint Stream = 1;

    /// <summary>The 24-bit uniform draw k (U = k·2⁻²⁴) of global element <paramref name="index"/> under a step seed.</summary>
    public static uint Draw(ulong seed, ulong index)
    {
        ulong block = index >> 2;
        var x = Philox4x32.Generate((uint)block, (uint)(block >> 32), Stream, Domain, (uint)seed, (uint)(seed >> 32));
        uint word = (index & 3) switch { 0 => x.X0, 1 => x.X1, 2 => x.X2, _ => x.X3 };
        return word >> 8;
    }

    /// <summary>
    /// v rounded to <paramref name="type"/> (F16 or BF16) with the draw k: the stored bits. NaN stays NaN; a finite v
    /// beyond the dtype's largest finite value, or an infinite one, throws <see cref="OverflowException"/>.
    /// </summary>
    public static ushort Round(float v, DType type, uint k)
    {
        if (float.IsNaN(v)) return ToBits(type, v); // round-to-nearest keeps a quiet NaN
        var (a, b) = Bracket(v, type);
        float lower = FromBits(type, a), upper = FromBits(type, b);
        if (float.IsInfinity(lower) || float.IsInfinity(upper))
            throw new OverflowException($"{v} is beyond the largest finite {type} value");
        if (a == b) return a;
        double p = ((double)v - lower) / ((double)upper - lower);
        return k * (1.0 / (1 << 24)) < p ? b : a;
    }

    /// <summary>
    /// The bits of the adjacent values a ≤ v ≤ b (a == b when v is representable): v truncated toward zero to the
    /// dtype, and the next value away from zero, ordered by value. Truncation keeps v's sign, so a tiny negative v
    /// brackets between −ulp and −0.
    /// </summary>
    public static (ushort A, ushort B) Bracket(float v, DType type)
    {
        ushort toward = TowardZero(v, type);
        if (FromBits(type, toward) == v) return (toward, toward);
        ushort away = (ushort)(toward + 1); // one ulp further from zero in sign-magnitude bits
        return v > 0 ? (toward, away) : (away, toward);
    }

    private static ushort TowardZero(float v, DType type)
    {
        uint bits = BitConverter.SingleToUInt32Bits(v);
        if (type == DType.BF16) return (ushort)(bits >> 16);
        if (type != DType.F16) throw new ArgumentException($"stochastic rounding stores F16 or BF16, not {type}");
        // F16: the nearest half, stepped back one ulp toward zero when it lies beyond v.
        ushort nearest = BitConverter.HalfToUInt16Bits((Half)v);
        float h = (float)BitConverter.UInt16BitsToHalf(nearest);
        return Math.Abs(h) > Math.Abs(v) ? (ushort)(nearest - 1) : nearest;
    }

    private static float FromBits(DType type, ushort bits) =>
        type == DType.BF16 ? ScalarConversions.BFloat16ToSingle(bits) : ScalarConversions.HalfToSingle(bits);

    private static ushort ToBits(DType type, float v) =>
        type == DType.BF16 ? ScalarConversions.SingleToBFloat16(v) : ScalarConversions.SingleToHalf(v);
}
