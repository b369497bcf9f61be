using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MeZO.Engine.Backends.Cpu.MatMul;

/// <summary>
/// The AVX-512 register-blocked kernel: C[rows, 32] (=, or +=) Apanel(rows, kc) · Bpanel(kc, 32), then + bias.
/// Each k step loads two B vectors and, per row, broadcasts one A element into two fused multiply-adds; with 14
/// rows the 28 accumulators keep both FMA pipes of a Zen 4/5 or Intel core busy (latency 4 × 2 pipes needs ≥ 8
/// independent chains) while the loads stay below the two-per-cycle limit.
/// Every element of C is one FMA chain over k in order, whatever the row count, so edge tiles, full tiles and the
/// <see cref="MicroKernel256"/> twin produce bit-identical results.
/// </summary>
internal static unsafe class MicroKernel512
{
    /// <param name="a">packed A panel: element (i, k) at a[k·rows + i]</param>
    /// <param name="b">packed B panel, 64-byte aligned: element (k, j) at b[k·32 + j]</param>
    /// <param name="c">top-left of the C tile, rows <paramref name="ldc"/> floats apart</param>
    /// <param name="accumulate">add to C (a later k block) instead of overwriting it (the first)</param>
    /// <param name="bias">32 floats added after the product (the last k block), or null</param>
    public static void Run(int rows, float* a, float* b, int kc, float* c, long ldc, bool accumulate, float* bias)
    {
        switch (rows)
        {
            case 1: Tile<Rows1>(a, b, kc, c, ldc, accumulate, bias); break;
            case 2: Tile<Rows2>(a, b, kc, c, ldc, accumulate, bias); break;
            case 3: Tile<Rows3>(a, b, kc, c, ldc, accumulate, bias); break;
            case 4: Tile<Rows4>(a, b, kc, c, ldc, accumulate, bias); break;
            case 5: Tile<Rows5>(a, b, kc, c, ldc, accumulate, bias); break;
            case 6: Tile<Rows6>(a, b, kc, c, ldc, accumulate, bias); break;
            case 7: Tile<Rows7>(a, b, kc, c, ldc, accumulate, bias); break;
            case 8: Tile<Rows8>(a, b, kc, c, ldc, accumulate, bias); break;
            case 9: Tile<Rows9>(a, b, kc, c, ldc, accumulate, bias); break;
            case 10: Tile<Rows10>(a, b, kc, c, ldc, accumulate, bias); break;
            case 11: Tile<Rows11>(a, b, kc, c, ldc, accumulate, bias); break;
            case 12: Tile<Rows12>(a, b, kc, c, ldc, accumulate, bias); break;
            case 13: Tile<Rows13>(a, b, kc, c, ldc, accumulate, bias); break;
            case 14: Tile<Rows14>(a, b, kc, c, ldc, accumulate, bias); break;
            default: throw new ArgumentOutOfRangeException(nameof(rows), rows, "a tile has 1 to 14 rows");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TRows>(float* a, float* b, int kc, float* c, long ldc, bool accumulate, float* bias)
        where TRows : struct, IRowCount
    {
        // The JIT drops every accumulator and every guarded line for rows past TRows.Value.
        var z = Vector512<float>.Zero;
        Vector512<float> c0a = z, c0b = z, c1a = z, c1b = z, c2a = z, c2b = z, c3a = z, c3b = z,
            c4a = z, c4b = z, c5a = z, c5b = z, c6a = z, c6b = z, c7a = z, c7b = z,
            c8a = z, c8b = z, c9a = z, c9b = z, c10a = z, c10b = z, c11a = z, c11b = z,
            c12a = z, c12b = z, c13a = z, c13b = z;
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector512.LoadAligned(b);
            var b1 = Vector512.LoadAligned(b + 16);
            Vector512<float> ak = Vector512.Create(a[0]);
            c0a = Vector512.FusedMultiplyAdd(ak, b0, c0a);
            c0b = Vector512.FusedMultiplyAdd(ak, b1, c0b);
            if (TRows.Value > 1)
            {
                ak = Vector512.Create(a[1]);
                c1a = Vector512.FusedMultiplyAdd(ak, b0, c1a);
                c1b = Vector512.FusedMultiplyAdd(ak, b1, c1b);
            }
            if (TRows.Value > 2)
            {
                ak = Vector512.Create(a[2]);
                c2a = Vector512.FusedMultiplyAdd(ak, b0, c2a);
                c2b = Vector512.FusedMultiplyAdd(ak, b1, c2b);
            }
            if (TRows.Value > 3)
            {
                ak = Vector512.Create(a[3]);
                c3a = Vector512.FusedMultiplyAdd(ak, b0, c3a);
                c3b = Vector512.FusedMultiplyAdd(ak, b1, c3b);
            }
            if (TRows.Value > 4)
            {
                ak = Vector512.Create(a[4]);
                c4a = Vector512.FusedMultiplyAdd(ak, b0, c4a);
                c4b = Vector512.FusedMultiplyAdd(ak, b1, c4b);
            }
            if (TRows.Value > 5)
            {
                ak = Vector512.Create(a[5]);
                c5a = Vector512.FusedMultiplyAdd(ak, b0, c5a);
                c5b = Vector512.FusedMultiplyAdd(ak, b1, c5b);
            }
            if (TRows.Value > 6)
            {
                ak = Vector512.Create(a[6]);
                c6a = Vector512.FusedMultiplyAdd(ak, b0, c6a);
                c6b = Vector512.FusedMultiplyAdd(ak, b1, c6b);
            }
            if (TRows.Value > 7)
            {
                ak = Vector512.Create(a[7]);
                c7a = Vector512.FusedMultiplyAdd(ak, b0, c7a);
                c7b = Vector512.FusedMultiplyAdd(ak, b1, c7b);
            }
            if (TRows.Value > 8)
            {
                ak = Vector512.Create(a[8]);
                c8a = Vector512.FusedMultiplyAdd(ak, b0, c8a);
                c8b = Vector512.FusedMultiplyAdd(ak, b1, c8b);
            }
            if (TRows.Value > 9)
            {
                ak = Vector512.Create(a[9]);
                c9a = Vector512.FusedMultiplyAdd(ak, b0, c9a);
                c9b = Vector512.FusedMultiplyAdd(ak, b1, c9b);
            }
            if (TRows.Value > 10)
            {
                ak = Vector512.Create(a[10]);
                c10a = Vector512.FusedMultiplyAdd(ak, b0, c10a);
                c10b = Vector512.FusedMultiplyAdd(ak, b1, c10b);
            }
            if (TRows.Value > 11)
            {
                ak = Vector512.Create(a[11]);
                c11a = Vector512.FusedMultiplyAdd(ak, b0, c11a);
                c11b = Vector512.FusedMultiplyAdd(ak, b1, c11b);
            }
            if (TRows.Value > 12)
            {
                ak = Vector512.Create(a[12]);
                c12a = Vector512.FusedMultiplyAdd(ak, b0, c12a);
                c12b = Vector512.FusedMultiplyAdd(ak, b1, c12b);
            }
            if (TRows.Value > 13)
            {
                ak = Vector512.Create(a[13]);
                c13a = Vector512.FusedMultiplyAdd(ak, b0, c13a);
                c13b = Vector512.FusedMultiplyAdd(ak, b1, c13b);
            }
            a += TRows.Value;
            b += GemmBlocking.Nr;
        }
        Finish(c, c0a, c0b, accumulate, bias);
        if (TRows.Value > 1) Finish(c + 1 * ldc, c1a, c1b, accumulate, bias);
        if (TRows.Value > 2) Finish(c + 2 * ldc, c2a, c2b, accumulate, bias);
        if (TRows.Value > 3) Finish(c + 3 * ldc, c3a, c3b, accumulate, bias);
        if (TRows.Value > 4) Finish(c + 4 * ldc, c4a, c4b, accumulate, bias);
        if (TRows.Value > 5) Finish(c + 5 * ldc, c5a, c5b, accumulate, bias);
        if (TRows.Value > 6) Finish(c + 6 * ldc, c6a, c6b, accumulate, bias);
        if (TRows.Value > 7) Finish(c + 7 * ldc, c7a, c7b, accumulate, bias);
        if (TRows.Value > 8) Finish(c + 8 * ldc, c8a, c8b, accumulate, bias);
        if (TRows.Value > 9) Finish(c + 9 * ldc, c9a, c9b, accumulate, bias);
        if (TRows.Value > 10) Finish(c + 10 * ldc, c10a, c10b, accumulate, bias);
        if (TRows.Value > 11) Finish(c + 11 * ldc, c11a, c11b, accumulate, bias);
        if (TRows.Value > 12) Finish(c + 12 * ldc, c12a, c12b, accumulate, bias);
        if (TRows.Value > 13) Finish(c + 13 * ldc, c13a, c13b, accumulate, bias);
    }

    /// <summary>C row = (C row + acc when accumulating) + bias: the order every path of the product uses.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(float* c, Vector512<float> low, Vector512<float> high, bool accumulate, float* bias)
    {
        if (accumulate)
        {
            low = Vector512.Load(c) + low;
            high = Vector512.Load(c + 16) + high;
        }
        if (bias != null)
        {
            low += Vector512.Load(bias);
            high += Vector512.Load(bias + 16);
        }
        low.Store(c);
        high.Store(c + 16);
    }
}
