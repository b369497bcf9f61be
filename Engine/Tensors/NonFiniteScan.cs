using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MeZO.Engine.Tensors;

/// <summary>
/// Finds NaN and ±∞ in raw little-endian F32, F16 or BF16 bits: a value is non-finite exactly when its exponent field
/// is all ones, so one AND and one compare per element decide it, a SIMD vector at a time. Reads go through unaligned
/// loads, because safetensors data need not be aligned for its element type.
/// </summary>
public static class NonFiniteScan
{
    /// <summary>The index of the first non-finite element of <paramref name="bytes"/> (whole elements of <paramref name="type"/>), or −1.</summary>
    public static long FirstIndex(ReadOnlySpan<byte> bytes, DType type) => type switch
    {
        DType.F32 => First<uint>(bytes, 0x7F80_0000u),
        DType.F16 => First<ushort>(bytes, 0x7C00),
        DType.BF16 => First<ushort>(bytes, 0x7F80),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "only F32, F16 and BF16 hold non-finite values"),
    };

    /// <summary>The index of the first NaN or ±∞ of a float32 row, or −1.</summary>
    public static long FirstIndex(ReadOnlySpan<float> values) => FirstIndex(MemoryMarshal.AsBytes(values), DType.F32);

    private static long First<T>(ReadOnlySpan<byte> bytes, T exponent) where T : unmanaged, IBinaryInteger<T>
    {
        int size = Unsafe.SizeOf<T>();
        if (bytes.Length % size != 0)
            throw new ArgumentException($"{bytes.Length} bytes are not whole {size}-byte elements", nameof(bytes));
        int count = bytes.Length / size;
        ref byte start = ref MemoryMarshal.GetReference(bytes);
        int i = 0;
        if (Vector.IsHardwareAccelerated && count >= Vector<T>.Count)
        {
            var mask = new Vector<T>(exponent);
            for (; i <= count - Vector<T>.Count; i += Vector<T>.Count)
            {
                var v = Unsafe.ReadUnaligned<Vector<T>>(ref Unsafe.Add(ref start, (nint)i * size));
                if (Vector.EqualsAny(v & mask, mask)) break; // the element is found by the scalar loop below
            }
        }
        for (; i < count; i++)
        {
            T v = Unsafe.ReadUnaligned<T>(ref Unsafe.Add(ref start, (nint)i * size));
            if ((v & exponent) == exponent) return i;
        }
        return -1;
    }
}
