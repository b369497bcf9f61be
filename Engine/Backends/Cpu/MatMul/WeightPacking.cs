using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MeZO.Engine.Backends.Cpu.MatMul;

/// <summary>
/// Packs one <see cref="GemmBlocking.Nr"/>-column panel of B for one k block into the k-major layout the micro-kernel
/// streams, converting F16/BF16 to float32 on the way, so a low-precision weight costs no extra pass.
/// </summary>
internal static unsafe class WeightPacking
{
    private const int Nr = GemmBlocking.Nr;

    /// <summary>
    /// panel[k·32 + j] = B(k0 + k, n0 + j) for k &lt; kc, j &lt; cols; columns cols..31 are zero, so a partial
    /// panel runs through the same kernel. <paramref name="panel"/> is 64-byte aligned.
    /// </summary>
    /// <param name="prefetchNext">also prefetch the same k block of the panel at n0 + 32, which the caller packs next</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackPanel<TFormat>(in WeightMatrix w, int n0, int cols, int k0, int kc, float* panel, SimdLevel simd,
        bool prefetchNext) where TFormat : struct, IStorageFormat
    {
        if (cols == Nr && simd == SimdLevel.Avx512)
        {
            int prefetchOffset = prefetchNext ? Nr : 0;
            if (w.Transposed) CopyRows<TFormat>(w, n0, k0, kc, panel, prefetchOffset);
            else TransposeRows<TFormat>(w, n0, k0, kc, panel, prefetchOffset);
            return;
        }
        for (int k = 0; k < kc; k++)
        {
            float* row = panel + (long)k * Nr;
            for (int j = 0; j < cols; j++) row[j] = w.Load<TFormat>(k0 + k, n0 + j);
            for (int j = cols; j < Nr; j++) row[j] = 0f;
        }
    }

    /// <summary>(K,N) storage: each k already holds the panel's 32 columns side by side.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CopyRows<TFormat>(in WeightMatrix w, int n0, int k0, int kc, float* panel, int prefetchOffset)
        where TFormat : struct, IStorageFormat
    {
        void* source = w.Address;
        long index = w.IndexOf(k0, n0), stride = w.N;
        for (int k = 0; k < kc; k++, index += stride)
        {
            if (prefetchOffset != 0) Prefetch<TFormat>(source, index + prefetchOffset, Nr);
            TFormat.Load16(source, index).StoreAligned(panel + (long)k * Nr);
            TFormat.Load16(source, index + 16).StoreAligned(panel + (long)k * Nr + 16);
        }
    }

    /// <summary>(N,K) storage: 16×16 blocks of weight rows are transposed in registers; the k tail goes one by one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposeRows<TFormat>(in WeightMatrix w, int n0, int k0, int kc, float* panel, int prefetchOffset)
        where TFormat : struct, IStorageFormat
    {
        void* src = w.Address;
        long stride = w.K;
        int k = 0;
        for (; k + 16 <= kc; k += 16)
        {
            for (int half = 0; half < Nr; half += 16)
            {
                long i = w.IndexOf(k0 + k, n0 + half);
                if (prefetchOffset != 0)
                    for (int r = 0; r < 16; r++) Prefetch<TFormat>(src, i + (prefetchOffset + r) * stride, 16);
                var r0 = TFormat.Load16(src, i); var r1 = TFormat.Load16(src, i + stride);
                var r2 = TFormat.Load16(src, i + 2 * stride); var r3 = TFormat.Load16(src, i + 3 * stride);
                var r4 = TFormat.Load16(src, i + 4 * stride); var r5 = TFormat.Load16(src, i + 5 * stride);
                var r6 = TFormat.Load16(src, i + 6 * stride); var r7 = TFormat.Load16(src, i + 7 * stride);
                var r8 = TFormat.Load16(src, i + 8 * stride); var r9 = TFormat.Load16(src, i + 9 * stride);
                var r10 = TFormat.Load16(src, i + 10 * stride); var r11 = TFormat.Load16(src, i + 11 * stride);
                var r12 = TFormat.Load16(src, i + 12 * stride); var r13 = TFormat.Load16(src, i + 13 * stride);
                var r14 = TFormat.Load16(src, i + 14 * stride); var r15 = TFormat.Load16(src, i + 15 * stride);
                Transpose16.Transpose(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7,
                    ref r8, ref r9, ref r10, ref r11, ref r12, ref r13, ref r14, ref r15);
                float* d = panel + (long)k * Nr + half;
                r0.StoreAligned(d); r1.StoreAligned(d + Nr); r2.StoreAligned(d + 2 * Nr); r3.StoreAligned(d + 3 * Nr);
                r4.StoreAligned(d + 4 * Nr); r5.StoreAligned(d + 5 * Nr); r6.StoreAligned(d + 6 * Nr); r7.StoreAligned(d + 7 * Nr);
                r8.StoreAligned(d + 8 * Nr); r9.StoreAligned(d + 9 * Nr); r10.StoreAligned(d + 10 * Nr); r11.StoreAligned(d + 11 * Nr);
                r12.StoreAligned(d + 12 * Nr); r13.StoreAligned(d + 13 * Nr); r14.StoreAligned(d + 14 * Nr); r15.StoreAligned(d + 15 * Nr);
            }
        }
        for (; k < kc; k++)
            for (int j = 0; j < Nr; j++)
                panel[(long)k * Nr + j] = w.Load<TFormat>(k0 + k, n0 + j);
    }

    /// <summary>
    /// Asks for the cache lines of <paramref name="count"/> elements from <paramref name="index"/>. Weights come from
    /// DRAM once per product, 32 short row pieces per panel — too many streams for the hardware prefetchers — so the
    /// next panel is fetched while this one is packed and multiplied.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch<TFormat>(void* source, long index, int count) where TFormat : struct, IStorageFormat
    {
        if (!Sse.IsSupported) return;
        byte* start = (byte*)source + index * TFormat.Size;
        for (int offset = 0; offset < count * TFormat.Size; offset += 64) Sse.Prefetch0(start + offset);
    }
}
