using System.Runtime.CompilerServices;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>Vectorised loads of any float storage dtype into float32 rows, and rounded stores back.</summary>
internal static unsafe class CpuConvert
{
    /// <summary>dst[j] = (float)src[elementOffset + j] for j in [0, dst.Length).</summary>
    public static void Load(nint address, DType type, long elementOffset, Span<float> dst)
    {
        switch (type)
        {
            case DType.F32:
                new ReadOnlySpan<float>((float*)address + elementOffset, dst.Length).CopyTo(dst);
                break;
            case DType.F16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)address + elementOffset, dst.Length), dst);
                break;
            case DType.BF16:
                LoadBFloat16((ushort*)address + elementOffset, dst);
                break;
            default:
                throw new ArgumentException($"cannot read {type} as float32");
        }
    }

    /// <summary>values[j] = (float)round(values[j]) to <paramref name="type"/>, in place: what storing and reading back would give.</summary>
    public static void Round(Span<float> values, DType type)
    {
        const int Chunk = 256;
        ushort* bits = stackalloc ushort[Chunk];
        for (int start = 0; start < values.Length; start += Chunk)
        {
            var part = values.Slice(start, Math.Min(Chunk, values.Length - start));
            Store(part, (nint)bits, type, 0);
            Load((nint)bits, type, 0, part);
        }
    }

    /// <summary>dst[elementOffset + j] = round(src[j]) to the storage dtype.</summary>
    public static void Store(ReadOnlySpan<float> src, nint address, DType type, long elementOffset)
    {
        switch (type)
        {
            case DType.F32:
                src.CopyTo(new Span<float>((float*)address + elementOffset, src.Length));
                break;
            case DType.F16:
                TensorPrimitives.ConvertToHalf(src, new Span<Half>((Half*)address + elementOffset, src.Length));
                break;
            case DType.BF16:
                StoreBFloat16(src, (ushort*)address + elementOffset);
                break;
            default:
                throw new ArgumentException($"cannot write float32 as {type}");
        }
    }

    // Both loops compiled fully optimised at once: their tier-0 code (the first few dozen calls, which in a MeZO update
    // are a large share of all) is several times slower.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LoadBFloat16(ushort* src, Span<float> dst)
    {
        int n = dst.Length, j = 0;
        fixed (float* d = dst)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                for (; j + 32 <= n; j += 32)
                {
                    var (lo, hi) = Vector512.Widen(Vector512.Load(src + j));
                    Vector512.ShiftLeft(lo, 16).AsSingle().Store(d + j);
                    Vector512.ShiftLeft(hi, 16).AsSingle().Store(d + j + 16);
                }
            }
            for (; j < n; j++) d[j] = ScalarConversions.BFloat16ToSingle(src[j]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StoreBFloat16(ReadOnlySpan<float> src, ushort* dst)
    {
        int n = src.Length, j = 0;
        fixed (float* s = src)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                var mask7fff = Vector512.Create(0x7FFFu);
                var one = Vector512.Create(1u);
                var absMask = Vector512.Create(0x7FFF_FFFFu);
                var inf = Vector512.Create(0x7F80_0000u);
                for (; j + 16 <= n; j += 16)
                {
                    var bits = Vector512.Load((uint*)s + j);
                    var rounded = (bits + mask7fff + ((bits >> 16) & one)) >> 16;
                    var isNan = Vector512.GreaterThan(bits & absMask, inf);
                    var nan = (bits >> 16) | Vector512.Create(0x40u);
                    var result = Vector512.ConditionalSelect(isNan, nan, rounded);
                    Vector256<ushort> narrowed = Vector256.Narrow(result.GetLower(), result.GetUpper());
                    narrowed.Store(dst + j);
                }
            }
            for (; j < n; j++) dst[j] = ScalarConversions.SingleToBFloat16(s[j]);
        }
    }
}
