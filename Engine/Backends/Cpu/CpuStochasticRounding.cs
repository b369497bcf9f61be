using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using MeZO.Engine.Mezo;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>
/// Stores float32 update results into F16/BF16 weights by <see cref="StochasticRounding"/>, bit for bit. BF16 is
/// vectorised: a bf16's bracket of v is v's top 16 bits (toward zero) and the next value away from zero, and
/// (v − a)/(b − a) is exactly L/2¹⁶ with L v's low 16 bits (for v &gt; 0; (2¹⁶ − L)/2¹⁶ for v &lt; 0), so the rule's
/// U &lt; p is the integer test k &lt; L·2⁸. F16, whose bracket depends on the exponent range, goes element by
/// element through the scalar definition.
/// </summary>
internal static unsafe class CpuStochasticRounding
{
    public static void Store(float* values, uint* draws, int count, ushort* destination, DType type, string tensorName)
    {
        int i = 0;
        if (type == DType.BF16 && Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= count; i += 16)
            {
                var bits = Vector512.Load((uint*)values + i);
                var magnitude = bits & Vector512.Create(0x7FFF_FFFFu);
                // NaN, infinities and values that would round past the largest finite bf16 go the scalar way (which throws or keeps NaN).
                if (Vector512.GreaterThanAny(magnitude, Vector512.Create(0x7F7F_0000u))) break;
                var low = bits & Vector512.Create(0xFFFFu);
                var negative = Vector512.GreaterThanOrEqual(bits, Vector512.Create(0x8000_0000u));
                var towardB = Vector512.ConditionalSelect(negative, Vector512.Create(0x1_0000u) - low, low);
                var k = Vector512.Load(draws + i);
                var takeB = Vector512.LessThan(k, towardB << 8);
                // b is the value away from zero for v > 0 and toward zero for v < 0; exact values (low = 0) never move.
                var away = Vector512.ConditionalSelect(negative, ~takeB, takeB) & ~Vector512.Equals(low, Vector512<uint>.Zero);
                var rounded = (bits >>> 16) + (away & Vector512<uint>.One);
                Store16(rounded, destination + i);
            }
        }
        for (; i < count; i++)
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store16(Vector512<uint> values, ushort* destination) =>
        Vector256.Narrow(values.GetLower(), values.GetUpper()).Store(destination);
}
