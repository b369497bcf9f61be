using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using MeZO.Engine.Mezo;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>
/// Stores float32 update results into F16/BF16 weights by <see cref="StochasticRounding"/>, bit for bit, 16 at a
/// time. Where v is a normal value of the storage dtype's range, its bracket is v truncated to the dtype's significand
/// (toward zero) and the next value away from zero, and (v − a)/(b − a) is exactly L/2^d with L the d dropped bits
/// (d = 16 for BF16, 13 for F16) for v &gt; 0, (2^d − L)/2^d for v &lt; 0: the rule's U &lt; p in double is then the
/// integer test k &lt; L·2^(24−d). A vector holding any other value (F16's subnormal range, a result near the largest
/// finite value, NaN, ±∞) goes element by element through the scalar definition, which also raises the overflow error.
/// </summary>
internal static unsafe class CpuStochasticRounding
{
    /// <summary>F16 normals: float32 exponents 113 … 142 (2⁻¹⁴ … 65504).</summary>
    private const uint HalfMinNormalBits = 0x3880_0000, HalfMaxFiniteBits = 0x477F_E000;

    /// <summary>BF16: anything the truncation cannot carry into ∞ (the largest finite bf16 is 0x7F7F).</summary>
    private const uint BFloat16MaxTruncatedBits = 0x7F7F_0000;

    /// <remarks>Compiled fully optimised at once: tier-0 code of the generic vector operations is many times slower.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Store(float* values, uint* draws, int count, ushort* destination, DType type, string tensorName)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= count; i += 16)
            {
                var bits = Vector512.Load((uint*)values + i);
                var k = Vector512.Load(draws + i);
                bool stored = type == DType.BF16 ? StoreBFloat16(bits, k, destination + i) : StoreHalf(bits, k, destination + i);
                if (!stored) Scalar(values + i, draws + i, 16, destination + i, type, tensorName);
            }
        }
        Scalar(values + i, draws + i, count - i, destination + i, type, tensorName);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool StoreBFloat16(Vector512<uint> bits, Vector512<uint> k, ushort* destination)
    {
        var magnitude = bits & Vector512.Create(0x7FFF_FFFFu);
        if (Vector512.GreaterThanAny(magnitude, Vector512.Create(BFloat16MaxTruncatedBits))) return false;
        var truncated = bits >>> 16; // sign and magnitude toward zero
        var away = AwayFromZero(bits, bits & Vector512.Create(0xFFFFu), 16, k);
        Narrow(truncated + away, destination);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool StoreHalf(Vector512<uint> bits, Vector512<uint> k, ushort* destination)
    {
        var magnitude = bits & Vector512.Create(0x7FFF_FFFFu);
        var normal = Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(HalfMinNormalBits))
                     & Vector512.LessThanOrEqual(magnitude, Vector512.Create(HalfMaxFiniteBits));
        // Exact zeros are representable and need no bracket.
        var zero = Vector512.Equals(magnitude, Vector512<uint>.Zero);
        if (!Vector512.EqualsAll(normal | zero, Vector512<uint>.AllBitsSet)) return false;
        // Rebias the exponent (127 → 15) and drop 13 significand bits; zeros stay zero.
        var truncated = ((magnitude - Vector512.Create(112u << 23)) >>> 13) & normal | (bits >>> 16 & Vector512.Create(0x8000u));
        var away = AwayFromZero(bits, magnitude & Vector512.Create(0x1FFFu) & normal, 13, k);
        Narrow(truncated + away, destination);
        return true;
    }

    /// <summary>1 where the rule stores the value away from zero, for <paramref name="dropped"/> = the d bits truncation dropped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> AwayFromZero(Vector512<uint> bits, Vector512<uint> dropped, int d, Vector512<uint> k)
    {
        var negative = Vector512.GreaterThanOrEqual(bits, Vector512.Create(0x8000_0000u));
        // b is away from zero for v > 0, toward zero for v < 0; p(b) is L/2^d or (2^d − L)/2^d.
        var towardB = Vector512.ConditionalSelect(negative, Vector512.Create(1u << d) - dropped, dropped);
        var takeB = Vector512.LessThan(k, towardB << (24 - d));
        var away = Vector512.ConditionalSelect(negative, ~takeB, takeB) & ~Vector512.Equals(dropped, Vector512<uint>.Zero);
        return away & Vector512<uint>.One;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Narrow(Vector512<uint> values, ushort* destination) =>
        Vector256.Narrow(values.GetLower(), values.GetUpper()).Store(destination);

    private static void Scalar(float* values, uint* draws, int count, ushort* destination, DType type, string tensorName)
    {
        for (int i = 0; i < count; i++)
        {
            try
            {
                destination[i] = StochasticRounding.Round(values[i], type, draws[i]);
            }
            catch (OverflowException e)
            {
                throw new OverflowException($"the MeZO update of '{tensorName}' overflows: {e.Message}", e);
            }
        }
    }
}
