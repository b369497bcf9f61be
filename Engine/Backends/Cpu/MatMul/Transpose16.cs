using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MeZO.Engine.Backends.Cpu.MatMul;

/// <summary>
/// In-register transpose of a 16×16 float block (AVX-512): afterwards rI holds what was column I. Packing uses it to
/// turn row-major blocks into the k-major panels the micro-kernel reads, at 64 shuffles per 256 elements instead of
/// 256 scalar moves.
/// </summary>
internal static class Transpose16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose(
        ref Vector512<float> r0, ref Vector512<float> r1, ref Vector512<float> r2, ref Vector512<float> r3,
        ref Vector512<float> r4, ref Vector512<float> r5, ref Vector512<float> r6, ref Vector512<float> r7,
        ref Vector512<float> r8, ref Vector512<float> r9, ref Vector512<float> r10, ref Vector512<float> r11,
        ref Vector512<float> r12, ref Vector512<float> r13, ref Vector512<float> r14, ref Vector512<float> r15)
    {
        // Within each 128-bit lane, interleave row pairs, then pairs of pairs: u(4g+e) lane L then holds element
        // 4L+e of rows 4g..4g+3.
        var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
        var t8 = Avx512F.UnpackLow(r8, r9); var t9 = Avx512F.UnpackHigh(r8, r9);
        var t10 = Avx512F.UnpackLow(r10, r11); var t11 = Avx512F.UnpackHigh(r10, r11);
        var t12 = Avx512F.UnpackLow(r12, r13); var t13 = Avx512F.UnpackHigh(r12, r13);
        var t14 = Avx512F.UnpackLow(r14, r15); var t15 = Avx512F.UnpackHigh(r14, r15);
        var u0 = PairLow(t0, t2); var u1 = PairHigh(t0, t2); var u2 = PairLow(t1, t3); var u3 = PairHigh(t1, t3);
        var u4 = PairLow(t4, t6); var u5 = PairHigh(t4, t6); var u6 = PairLow(t5, t7); var u7 = PairHigh(t5, t7);
        var u8 = PairLow(t8, t10); var u9 = PairHigh(t8, t10); var u10 = PairLow(t9, t11); var u11 = PairHigh(t9, t11);
        var u12 = PairLow(t12, t14); var u13 = PairHigh(t12, t14); var u14 = PairLow(t13, t15); var u15 = PairHigh(t13, t15);
        // Then a 4×4 transpose of 128-bit lanes across u(e), u(4+e), u(8+e), u(12+e) for each e.
        LaneTranspose(u0, u4, u8, u12, out r0, out r4, out r8, out r12);
        LaneTranspose(u1, u5, u9, u13, out r1, out r5, out r9, out r13);
        LaneTranspose(u2, u6, u10, u14, out r2, out r6, out r10, out r14);
        LaneTranspose(u3, u7, u11, u15, out r3, out r7, out r11, out r15);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PairLow(Vector512<float> x, Vector512<float> y) =>
        Avx512F.UnpackLow(x.AsDouble(), y.AsDouble()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PairHigh(Vector512<float> x, Vector512<float> y) =>
        Avx512F.UnpackHigh(x.AsDouble(), y.AsDouble()).AsSingle();

    /// <summary>Lane L of output I = lane I of input L.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LaneTranspose(Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3,
        out Vector512<float> y0, out Vector512<float> y1, out Vector512<float> y2, out Vector512<float> y3)
    {
        var lowHalves01 = Avx512F.Shuffle4x128(x0, x1, 0x44);  // x0.L0 x0.L1 x1.L0 x1.L1
        var highHalves01 = Avx512F.Shuffle4x128(x0, x1, 0xEE); // x0.L2 x0.L3 x1.L2 x1.L3
        var lowHalves23 = Avx512F.Shuffle4x128(x2, x3, 0x44);
        var highHalves23 = Avx512F.Shuffle4x128(x2, x3, 0xEE);
        y0 = Avx512F.Shuffle4x128(lowHalves01, lowHalves23, 0x88);   // even lanes
        y1 = Avx512F.Shuffle4x128(lowHalves01, lowHalves23, 0xDD);   // odd lanes
        y2 = Avx512F.Shuffle4x128(highHalves01, highHalves23, 0x88);
        y3 = Avx512F.Shuffle4x128(highHalves01, highHalves23, 0xDD);
    }
}
