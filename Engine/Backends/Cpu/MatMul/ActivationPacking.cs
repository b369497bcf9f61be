using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MeZO.Engine.Backends.Cpu.MatMul;

/// <summary>
/// Packs the activations A(M,K) (row-major float32) into panels of up to <see cref="GemmBlocking.Mr"/> rows, k-major,
/// so the micro-kernel reads each k's column of the tile as consecutive floats. Layout of the whole packed A: k blocks
/// of <see cref="GemmBlocking.Kc"/> one after another (block at k0 starts at M·k0); inside a block, the panel of rows
/// [m0, m0 + rows) starts at m0·kc and holds element (i, k) at [k·rows + i]. The caller chooses the panel boundaries.
/// </summary>
internal static unsafe class ActivationPacking
{
    /// <summary>Floats of the packed A for <paramref name="m"/> rows of depth <paramref name="k"/>.</summary>
    public static long PackedLength(int m, int k) => (long)m * k;

    /// <summary>Start of the panel from row <paramref name="m0"/> in the k block from <paramref name="k0"/>.</summary>
    public static float* Panel(float* packed, int m, int m0, int k0, int kc) => packed + (long)m * k0 + (long)m0 * kc;

    /// <summary>Packs the panel of rows [m0, m0 + rows) for every k block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackRows(float* a, int m, int k, int m0, int rows, float* packed, SimdLevel simd)
    {
        for (int k0 = 0; k0 < k; k0 += GemmBlocking.Kc)
        {
            int kc = Math.Min(GemmBlocking.Kc, k - k0);
            float* panel = Panel(packed, m, m0, k0, kc);
            float* source = a + (long)m0 * k + k0;
            int kk = simd == SimdLevel.Avx512 ? PackBy16(source, k, rows, kc, panel) : 0;
            for (; kk < kc; kk++)
                for (int i = 0; i < rows; i++)
                    panel[(long)kk * rows + i] = source[(long)i * k + kk];
        }
    }

    /// <summary>Transposes 16-column slices of the panel's rows in registers; returns how many columns it packed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int PackBy16(float* source, long stride, int rows, int kc, float* panel)
    {
        var rowMask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(rows)).AsSingle();
        int kk = 0;
        for (; kk + 16 <= kc; kk += 16)
        {
            float* s = source + kk;
            var r0 = Row(s, stride, 0, rows); var r1 = Row(s, stride, 1, rows);
            var r2 = Row(s, stride, 2, rows); var r3 = Row(s, stride, 3, rows);
            var r4 = Row(s, stride, 4, rows); var r5 = Row(s, stride, 5, rows);
            var r6 = Row(s, stride, 6, rows); var r7 = Row(s, stride, 7, rows);
            var r8 = Row(s, stride, 8, rows); var r9 = Row(s, stride, 9, rows);
            var r10 = Row(s, stride, 10, rows); var r11 = Row(s, stride, 11, rows);
            var r12 = Row(s, stride, 12, rows); var r13 = Row(s, stride, 13, rows);
            var r14 = Row(s, stride, 14, rows); var r15 = Row(s, stride, 15, rows);
            Transpose16.Transpose(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7,
                ref r8, ref r9, ref r10, ref r11, ref r12, ref r13, ref r14, ref r15);
            // Column kk+j of the slice becomes `rows` consecutive floats; the mask keeps the store inside the panel.
            float* d = panel + (long)kk * rows;
            Avx512F.MaskStore(d, rowMask, r0); Avx512F.MaskStore(d + rows, rowMask, r1);
            Avx512F.MaskStore(d + 2 * rows, rowMask, r2); Avx512F.MaskStore(d + 3 * rows, rowMask, r3);
            Avx512F.MaskStore(d + 4 * rows, rowMask, r4); Avx512F.MaskStore(d + 5 * rows, rowMask, r5);
            Avx512F.MaskStore(d + 6 * rows, rowMask, r6); Avx512F.MaskStore(d + 7 * rows, rowMask, r7);
            Avx512F.MaskStore(d + 8 * rows, rowMask, r8); Avx512F.MaskStore(d + 9 * rows, rowMask, r9);
            Avx512F.MaskStore(d + 10 * rows, rowMask, r10); Avx512F.MaskStore(d + 11 * rows, rowMask, r11);
            Avx512F.MaskStore(d + 12 * rows, rowMask, r12); Avx512F.MaskStore(d + 13 * rows, rowMask, r13);
            Avx512F.MaskStore(d + 14 * rows, rowMask, r14); Avx512F.MaskStore(d + 15 * rows, rowMask, r15);
        }
        return kk;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Row(float* slice, long stride, int i, int rows) =>
        i < rows ? Vector512.Load(slice + i * stride) : Vector512<float>.Zero;
}
