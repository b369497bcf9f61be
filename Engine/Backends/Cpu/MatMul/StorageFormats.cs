using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu.MatMul;

/// <summary>
/// A float storage dtype as a type parameter: kernels generic over <c>TFormat : struct, IStorageFormat</c> are
/// compiled once per dtype with the conversion inlined — no branch on the dtype inside their loops, which would also
/// make the JIT spill their accumulators. Every conversion is exact: F16 and BF16 values are float32 values.
/// </summary>
internal unsafe interface IStorageFormat
{
    /// <summary>16 consecutive elements from element <paramref name="index"/> (AVX-512).</summary>
    static abstract Vector512<float> Load16(void* source, long index);

    /// <summary>One element.</summary>
    static abstract float Load(void* source, long index);

    /// <summary>Bytes per element.</summary>
    static abstract int Size { get; }
}

internal readonly unsafe struct Float32Storage : IStorageFormat
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(void* source, long index) => Vector512.Load((float*)source + index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load(void* source, long index) => ((float*)source)[index];

    public static int Size => sizeof(float);
}

/// <summary>A bfloat16 is the top half of the float32 with the same value.</summary>
internal readonly unsafe struct BFloat16Storage : IStorageFormat
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(void* source, long index) =>
        (Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)source + index)) << 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load(void* source, long index) => ScalarConversions.BFloat16ToSingle(((ushort*)source)[index]);

    public static int Size => sizeof(ushort);
}

/// <summary>
/// IEEE half → float32 without a lookup table (x86 has no 512-bit half conversion that .NET exposes): the 15
/// magnitude bits shifted into float position and scaled by 2^112 give every normal and subnormal half exactly (the
/// multiply renormalises subnormals); infinities and NaNs keep their payload under an all-ones exponent; the sign is
/// or-ed back last.
/// </summary>
internal readonly unsafe struct Float16Storage : IStorageFormat
{
    /// <summary>2^112: moves a half's exponent field (bias 15), placed in a float's (bias 127), to its true value.</summary>
    private const uint ExponentRebias = 0x7780_0000;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(void* source, long index)
    {
        Vector512<uint> h = Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)source + index));
        Vector512<uint> magnitude = h & Vector512.Create(0x7FFFu);
        Vector512<uint> shifted = magnitude << 13;
        Vector512<float> finite = shifted.AsSingle() * Vector512.Create(ExponentRebias).AsSingle();
        Vector512<float> special = (shifted | Vector512.Create(0x7F80_0000u)).AsSingle();
        Vector512<float> isSpecial = Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(0x7C00u)).AsSingle();
        Vector512<uint> sign = (h & Vector512.Create(0x8000u)) << 16;
        return Vector512.ConditionalSelect(isSpecial, special, finite) | sign.AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load(void* source, long index) => ScalarConversions.HalfToSingle(((ushort*)source)[index]);

    public static int Size => sizeof(ushort);
}
