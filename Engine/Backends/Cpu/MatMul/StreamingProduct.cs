using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu.MatMul;

/// <summary>
/// C(M,N) = A(M,K)·B(K,N) (+ bias) for few rows — token-by-token decoding, LM heads over a handful of positions —
/// on AVX-512. Packing the weight would cost as much as the product, so the weight is streamed once straight from
/// storage and each vector of it serves up to four activation rows while in a register (any further rows reuse the
/// weight tile from L1, four at a time). Work is split over N in fixed units, so every output is the same arithmetic
/// whichever core computes it.
/// <list type="bullet">
/// <item>(N,K) weights: 4 weight rows × 4 activation rows of 16-lane dot products, lanes reduced at the end;</item>
/// <item>(K,N) weights: 64 columns × 4 activation rows of accumulators swept down k (broadcast A, contiguous B).</item>
/// </list>
/// </summary>
internal sealed unsafe class StreamingProduct
{
    /// <summary>Weight rows ((N,K) layout) or columns ((K,N) layout) in one register tile, and activation rows.</summary>
    private const int RowTile = 4, ColumnTile = 64, RowGroup = 4;

    /// <summary>Work items per core: a few, so a core slowed by another process hands items to the other.</summary>
    private const int ItemsPerWorker = 4;

    /// <summary>Below this many multiply-adds a parallel launch costs more than it saves.</summary>
    private const long ParallelMinMultiplyAdds = 1L << 20;

    [ThreadStatic] private static StreamingProduct? t_job;

    private readonly Action<int> _item;
    private float* _a, _bias, _c;
    private WeightMatrix _w;
    private int _m, _unit, _unitsPerItem;

    private StreamingProduct() => _item = Item;

    /// <param name="a">A (m, w.K), row-major</param>
    /// <param name="bias">w.N floats, or null</param>
    /// <param name="c">C (m, w.N), row-major; fully overwritten</param>
    public static void Run(float* a, int m, in WeightMatrix w, float* bias, float* c)
    {
        var job = t_job ??= new StreamingProduct();
        job._a = a;
        job._m = m;
        job._w = w;
        job._bias = bias;
        job._c = c;
        job._unit = w.Transposed ? ColumnTile : RowTile;
        int units = (w.N + job._unit - 1) / job._unit;
        int items = Math.Min(units, CpuParallel.Workers * ItemsPerWorker);
        job._unitsPerItem = (units + items - 1) / items;
        items = (units + job._unitsPerItem - 1) / job._unitsPerItem;
        ParallelItems.Run(items, (long)m * w.N * w.K >= ParallelMinMultiplyAdds, job._item);
        job._a = job._bias = job._c = null;
    }

    private void Item(int item)
    {
        int start = item * _unitsPerItem * _unit, end = Math.Min(_w.N, start + _unitsPerItem * _unit);
        switch (_w.Type)
        {
            case DType.F32: Columns<Float32Storage>(start, end); break;
            case DType.F16: Columns<Float16Storage>(start, end); break;
            case DType.BF16: Columns<BFloat16Storage>(start, end); break;
            default: throw new ArgumentException($"cannot multiply by a {_w.Type} weight");
        }
    }

    private void Columns<TFormat>(int start, int end) where TFormat : struct, IStorageFormat
    {
        int n = start;
        if (_w.Transposed)
        {
            for (; n + ColumnTile <= end; n += ColumnTile) EachRowGroup<TFormat, Rows4>(n);
            for (; n + 16 <= end; n += 16) EachRowGroup<TFormat, Rows1>(n);
            for (; n < end; n++) ScalarColumn<TFormat>(n);
        }
        else
        {
            for (; n + RowTile <= end; n += RowTile) EachRowGroup<TFormat, Rows4>(n);
            for (; n < end; n++) EachRowGroup<TFormat, Rows1>(n);
        }
    }

    /// <summary>One weight tile against every group of up to four activation rows.</summary>
    private void EachRowGroup<TFormat, TCols>(int n) where TFormat : struct, IStorageFormat where TCols : struct, IRowCount
    {
        for (int r0 = 0; r0 < _m; r0 += RowGroup)
        {
            switch (Math.Min(RowGroup, _m - r0))
            {
                case 1: Tile<TFormat, Rows1, TCols>(n, r0); break;
                case 2: Tile<TFormat, Rows2, TCols>(n, r0); break;
                case 3: Tile<TFormat, Rows3, TCols>(n, r0); break;
                default: Tile<TFormat, Rows4, TCols>(n, r0); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Tile<TFormat, TRows, TCols>(int n, int r0)
        where TFormat : struct, IStorageFormat where TRows : struct, IRowCount where TCols : struct, IRowCount
    {
        if (_w.Transposed) Sweep<TFormat, TRows, TCols>(n, r0);
        else Dot<TFormat, TRows, TCols>(n, r0);
    }

    /// <summary>(N,K) weights: C(r0 + r, n + j) = A row r0 + r · weight row n + j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Dot<TFormat, TRows, TCols>(int n, int r0)
        where TFormat : struct, IStorageFormat where TRows : struct, IRowCount where TCols : struct, IRowCount
    {
        void* source = _w.Address;
        int kDim = _w.K;
        long stride = kDim, row = (long)n * kDim;
        float* a = _a + r0 * stride;
        var z = Vector512<float>.Zero;
        Vector512<float> s00 = z, s01 = z, s02 = z, s03 = z,
            s10 = z, s11 = z, s12 = z, s13 = z,
            s20 = z, s21 = z, s22 = z, s23 = z,
            s30 = z, s31 = z, s32 = z, s33 = z;
        int k = 0;
        for (; k + 16 <= kDim; k += 16)
        {
            Vector512<float> w0, w1 = z, w2 = z, w3 = z;
            w0 = TFormat.Load16(source, row + k);
            if (TCols.Value > 1) w1 = TFormat.Load16(source, row + stride + k);
            if (TCols.Value > 2) w2 = TFormat.Load16(source, row + 2 * stride + k);
            if (TCols.Value > 3) w3 = TFormat.Load16(source, row + 3 * stride + k);
            {
                var x = Vector512.Load(a + k);
                s00 = Vector512.FusedMultiplyAdd(x, w0, s00);
                if (TCols.Value > 1) s01 = Vector512.FusedMultiplyAdd(x, w1, s01);
                if (TCols.Value > 2) s02 = Vector512.FusedMultiplyAdd(x, w2, s02);
                if (TCols.Value > 3) s03 = Vector512.FusedMultiplyAdd(x, w3, s03);
            }
            if (TRows.Value > 1)
            {
                var x = Vector512.Load(a + stride + k);
                s10 = Vector512.FusedMultiplyAdd(x, w0, s10);
                if (TCols.Value > 1) s11 = Vector512.FusedMultiplyAdd(x, w1, s11);
                if (TCols.Value > 2) s12 = Vector512.FusedMultiplyAdd(x, w2, s12);
                if (TCols.Value > 3) s13 = Vector512.FusedMultiplyAdd(x, w3, s13);
            }
            if (TRows.Value > 2)
            {
                var x = Vector512.Load(a + 2 * stride + k);
                s20 = Vector512.FusedMultiplyAdd(x, w0, s20);
                if (TCols.Value > 1) s21 = Vector512.FusedMultiplyAdd(x, w1, s21);
                if (TCols.Value > 2) s22 = Vector512.FusedMultiplyAdd(x, w2, s22);
                if (TCols.Value > 3) s23 = Vector512.FusedMultiplyAdd(x, w3, s23);
            }
            if (TRows.Value > 3)
            {
                var x = Vector512.Load(a + 3 * stride + k);
                s30 = Vector512.FusedMultiplyAdd(x, w0, s30);
                if (TCols.Value > 1) s31 = Vector512.FusedMultiplyAdd(x, w1, s31);
                if (TCols.Value > 2) s32 = Vector512.FusedMultiplyAdd(x, w2, s32);
                if (TCols.Value > 3) s33 = Vector512.FusedMultiplyAdd(x, w3, s33);
            }
        }
        // Lanes are reduced before anything is called, so no accumulator has to live across a call (the JIT would
        // spill all of them inside the loop).
        float* sums = stackalloc float[RowGroup * RowTile];
        sums[0] = Vector512.Sum(s00);
        if (TCols.Value > 1) sums[1] = Vector512.Sum(s01);
        if (TCols.Value > 2) sums[2] = Vector512.Sum(s02);
        if (TCols.Value > 3) sums[3] = Vector512.Sum(s03);
        if (TRows.Value > 1) sums[4] = Vector512.Sum(s10);
        if (TRows.Value > 1 && TCols.Value > 1) sums[5] = Vector512.Sum(s11);
        if (TRows.Value > 1 && TCols.Value > 2) sums[6] = Vector512.Sum(s12);
        if (TRows.Value > 1 && TCols.Value > 3) sums[7] = Vector512.Sum(s13);
        if (TRows.Value > 2) sums[8] = Vector512.Sum(s20);
        if (TRows.Value > 2 && TCols.Value > 1) sums[9] = Vector512.Sum(s21);
        if (TRows.Value > 2 && TCols.Value > 2) sums[10] = Vector512.Sum(s22);
        if (TRows.Value > 2 && TCols.Value > 3) sums[11] = Vector512.Sum(s23);
        if (TRows.Value > 3) sums[12] = Vector512.Sum(s30);
        if (TRows.Value > 3 && TCols.Value > 1) sums[13] = Vector512.Sum(s31);
        if (TRows.Value > 3 && TCols.Value > 2) sums[14] = Vector512.Sum(s32);
        if (TRows.Value > 3 && TCols.Value > 3) sums[15] = Vector512.Sum(s33);
        FinishDots<TFormat>(sums, TRows.Value, TCols.Value, n, r0, k);
    }

    /// <summary>Adds the k tail one product at a time, then the bias, and stores.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private void FinishDots<TFormat>(float* sums, int rows, int cols, int n, int r0, int kTail) where TFormat : struct, IStorageFormat
    {
        int kDim = _w.K;
        for (int r = 0; r < rows; r++)
        {
            float* aRow = _a + (long)(r0 + r) * kDim;
            for (int j = 0; j < cols; j++)
            {
                float sum = sums[r * RowTile + j];
                for (int k = kTail; k < kDim; k++) sum = MathF.FusedMultiplyAdd(aRow[k], _w.Load<TFormat>(k, n + j), sum);
                if (_bias != null) sum += _bias[n + j];
                _c[(long)(r0 + r) * _w.N + n + j] = sum;
            }
        }
    }

    /// <summary>(K,N) weights: C(r0 + r, n0 .. n0 + 16·TCols) swept down k.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Sweep<TFormat, TRows, TCols>(int n0, int r0)
        where TFormat : struct, IStorageFormat where TRows : struct, IRowCount where TCols : struct, IRowCount
    {
        void* source = _w.Address;
        int kDim = _w.K;
        long stride = kDim;
        float* a = _a + r0 * stride;
        var z = Vector512<float>.Zero;
        Vector512<float> s00 = z, s01 = z, s02 = z, s03 = z,
            s10 = z, s11 = z, s12 = z, s13 = z,
            s20 = z, s21 = z, s22 = z, s23 = z,
            s30 = z, s31 = z, s32 = z, s33 = z;
        long row = n0;
        for (int k = 0; k < kDim; k++, row += _w.N)
        {
            Vector512<float> w0, w1 = z, w2 = z, w3 = z;
            w0 = TFormat.Load16(source, row);
            if (TCols.Value > 1) w1 = TFormat.Load16(source, row + 16);
            if (TCols.Value > 2) w2 = TFormat.Load16(source, row + 32);
            if (TCols.Value > 3) w3 = TFormat.Load16(source, row + 48);
            {
                var x = Vector512.Create(a[k]);
                s00 = Vector512.FusedMultiplyAdd(x, w0, s00);
                if (TCols.Value > 1) s01 = Vector512.FusedMultiplyAdd(x, w1, s01);
                if (TCols.Value > 2) s02 = Vector512.FusedMultiplyAdd(x, w2, s02);
                if (TCols.Value > 3) s03 = Vector512.FusedMultiplyAdd(x, w3, s03);
            }
            if (TRows.Value > 1)
            {
                var x = Vector512.Create(a[stride + k]);
                s10 = Vector512.FusedMultiplyAdd(x, w0, s10);
                if (TCols.Value > 1) s11 = Vector512.FusedMultiplyAdd(x, w1, s11);
                if (TCols.Value > 2) s12 = Vector512.FusedMultiplyAdd(x, w2, s12);
                if (TCols.Value > 3) s13 = Vector512.FusedMultiplyAdd(x, w3, s13);
            }
            if (TRows.Value > 2)
            {
                var x = Vector512.Create(a[2 * stride + k]);
                s20 = Vector512.FusedMultiplyAdd(x, w0, s20);
                if (TCols.Value > 1) s21 = Vector512.FusedMultiplyAdd(x, w1, s21);
                if (TCols.Value > 2) s22 = Vector512.FusedMultiplyAdd(x, w2, s22);
                if (TCols.Value > 3) s23 = Vector512.FusedMultiplyAdd(x, w3, s23);
            }
            if (TRows.Value > 3)
            {
                var x = Vector512.Create(a[3 * stride + k]);
                s30 = Vector512.FusedMultiplyAdd(x, w0, s30);
                if (TCols.Value > 1) s31 = Vector512.FusedMultiplyAdd(x, w1, s31);
                if (TCols.Value > 2) s32 = Vector512.FusedMultiplyAdd(x, w2, s32);
                if (TCols.Value > 3) s33 = Vector512.FusedMultiplyAdd(x, w3, s33);
            }
        }
        FinishColumns(s00, r0 + 0, n0);
        if (TCols.Value > 1) FinishColumns(s01, r0 + 0, n0 + 16);
        if (TCols.Value > 2) FinishColumns(s02, r0 + 0, n0 + 32);
        if (TCols.Value > 3) FinishColumns(s03, r0 + 0, n0 + 48);
        if (TRows.Value > 1) FinishColumns(s10, r0 + 1, n0);
        if (TRows.Value > 1 && TCols.Value > 1) FinishColumns(s11, r0 + 1, n0 + 16);
        if (TRows.Value > 1 && TCols.Value > 2) FinishColumns(s12, r0 + 1, n0 + 32);
        if (TRows.Value > 1 && TCols.Value > 3) FinishColumns(s13, r0 + 1, n0 + 48);
        if (TRows.Value > 2) FinishColumns(s20, r0 + 2, n0);
        if (TRows.Value > 2 && TCols.Value > 1) FinishColumns(s21, r0 + 2, n0 + 16);
        if (TRows.Value > 2 && TCols.Value > 2) FinishColumns(s22, r0 + 2, n0 + 32);
        if (TRows.Value > 2 && TCols.Value > 3) FinishColumns(s23, r0 + 2, n0 + 48);
        if (TRows.Value > 3) FinishColumns(s30, r0 + 3, n0);
        if (TRows.Value > 3 && TCols.Value > 1) FinishColumns(s31, r0 + 3, n0 + 16);
        if (TRows.Value > 3 && TCols.Value > 2) FinishColumns(s32, r0 + 3, n0 + 32);
        if (TRows.Value > 3 && TCols.Value > 3) FinishColumns(s33, r0 + 3, n0 + 48);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void FinishColumns(Vector512<float> sums, int r, int n0)
    {
        if (_bias != null) sums += Vector512.Load(_bias + n0);
        sums.Store(_c + (long)r * _w.N + n0);
    }

    /// <summary>(K,N) weights, the last N mod 16 columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ScalarColumn<TFormat>(int n) where TFormat : struct, IStorageFormat
    {
        for (int r = 0; r < _m; r++)
        {
            float sum = 0f;
            for (int k = 0; k < _w.K; k++) sum = MathF.FusedMultiplyAdd(_a[(long)r * _w.K + k], _w.Load<TFormat>(k, n), sum);
            if (_bias != null) sum += _bias[n];
            _c[(long)r * _w.N + n] = sum;
        }
    }
}
