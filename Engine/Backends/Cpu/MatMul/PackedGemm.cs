using System.Runtime.CompilerServices;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu.MatMul;

/// <summary>
/// The packed, cache-blocked product C(M,N) = A(M,K)·B(K,N) (+ bias), GotoBLAS/BLIS style:
/// <list type="number">
/// <item>A is packed once into panels of at most <see cref="GemmBlocking.Mr"/> rows, all of nearly equal height so
/// no tile is left with a row or two that would keep the FMA pipes half idle (all cores, one parallel launch);</item>
/// <item>C is cut into work items of at most <see cref="GemmBlocking.Mc"/> rows × a run of
/// <see cref="GemmBlocking.Nr"/>-column panels (one more launch, items taken by whichever core is free);</item>
/// <item>an item walks k blocks of <see cref="GemmBlocking.Kc"/>; per block and panel it packs the B panel into its
/// thread's L1-sized buffer (converting the weight's dtype) and runs the micro-kernel down its rows of A, which
/// stay in L2 across the panels.</item>
/// </list>
/// Determinism: every element of C is summed over k blocks in order, each block one FMA chain, whatever the item
/// split, the thread that ran it or the kernel's row count — so the result depends on the shape alone.
/// <para>
/// MeZO's perturbed product (<see cref="RunPerturbed"/>) multiplies one or two streams of A by B + scale·z without
/// ever writing B: each packed B panel gets its z panel (generated once, shared by both streams) added in L1, then
/// each stream's rows run against its own sum. Items then span all rows, so each panel's z is generated once.
/// </para>
/// </summary>
internal sealed unsafe class PackedGemm
{
    private const int Mr = GemmBlocking.Mr;
    private const int Nr = GemmBlocking.Nr;
    private const int Kc = GemmBlocking.Kc;

    /// <summary>Work items per core: a few, so a core slowed by another process hands items to the other.</summary>
    private const int ItemsPerWorker = 4;

    /// <summary>Below this many multiply-adds (~15 µs on one core) a parallel launch costs more than it saves.</summary>
    private const long ParallelMinMultiplyAdds = 1L << 21;

    /// <summary>Below this many elements of A, packing it on the calling thread beats a launch.</summary>
    private const long ParallelMinPackElements = 1L << 16;

    /// <summary>One job per calling thread: its packed A and cached delegates are reused by every call it makes.</summary>
    [ThreadStatic] private static PackedGemm? t_job;

    /// <summary>The B panel of whichever thread runs an item.</summary>
    [ThreadStatic] private static PackBuffer? t_weightPanel;

    /// <summary>A perturbed product's z for one panel: as generated (rows of the stored weight), then packed, then B + scale·z.</summary>
    [ThreadStatic] private static PackBuffer? t_noiseRows, t_noisePanel, t_perturbedPanel;

    private const int MaxStreams = 2;

    private readonly PackBuffer[] _packedActivations = [new(), new()];
    private readonly Action<int> _packItem;
    private readonly Action<int> _computeItem;

    private readonly nint[] _a = new nint[MaxStreams], _packedA = new nint[MaxStreams], _bias = new nint[MaxStreams], _c = new nint[MaxStreams];
    private readonly float[] _scales = new float[MaxStreams];
    private int _streams;
    private bool _perturbed;
    private DType _rounding;
    private ulong _seed, _firstIndex;
    private WeightMatrix _w;
    private int _m;
    private SimdLevel _simd;
    private int _mBlocks, _panelsM, _panelRows, _tallerPanels, _panelsPerPackItem, _panelsPerMBlock, _panelsN, _panelsPerNChunk, _nChunks;

    private PackedGemm()
    {
        _packItem = PackItem;
        _computeItem = ComputeItem;
    }

    /// <param name="a">A (m, w.K), row-major</param>
    /// <param name="bias">w.N floats, or null</param>
    /// <param name="c">C (m, w.N), row-major; fully overwritten</param>
    public static void Run(float* a, int m, in WeightMatrix w, float* bias, float* c, SimdLevel simd)
    {
        var job = t_job ??= new PackedGemm();
        job._streams = 1;
        job._perturbed = false;
        job._a[0] = (nint)a;
        job._bias[0] = (nint)bias;
        job._c[0] = (nint)c;
        job.Execute(m, w, simd);
    }

    /// <summary>
    /// C_s = A_s·(B + scales[s]·z)ᵀ + bias_s for each stream s (one or two, all of m rows), where B's stored element j
    /// has z(seed, firstIndex + j). Each perturbed element is fl(b + fl(scale·z)), the rule of every perturbed read, then
    /// rounded to nearest even in <paramref name="rounding"/> unless that is F32 (a 16-bit model computing in 16 bits).
    /// </summary>
    public static void RunPerturbed(ReadOnlySpan<nint> a, int m, in WeightMatrix w, ulong seed, ulong firstIndex,
        ReadOnlySpan<float> scales, ReadOnlySpan<nint> bias, ReadOnlySpan<nint> c, SimdLevel simd, DType rounding = DType.F32)
    {
        var job = t_job ??= new PackedGemm();
        job._streams = a.Length;
        job._perturbed = true;
        job._rounding = rounding;
        job._seed = seed;
        job._firstIndex = firstIndex;
        for (int s = 0; s < a.Length; s++)
        {
            job._a[s] = a[s];
            job._bias[s] = bias[s];
            job._c[s] = c[s];
            job._scales[s] = scales[s];
        }
        job.Execute(m, w, simd);
    }

    private void Execute(int m, in WeightMatrix w, SimdLevel simd)
    {
        _m = m;
        _w = w;
        _simd = simd;
        for (int s = 0; s < _streams; s++)
            _packedA[s] = (nint)_packedActivations[s].Get(ActivationPacking.PackedLength(m, w.K));
        int workers = CpuParallel.Workers;

        _panelsM = (m + Mr - 1) / Mr;
        _panelRows = m / _panelsM;
        _tallerPanels = m % _panelsM;
        _panelsPerPackItem = Math.Max(1, _panelsM / (workers * ItemsPerWorker));
        int packItems = (_panelsM + _panelsPerPackItem - 1) / _panelsPerPackItem;
        ParallelItems.Run(packItems * _streams, (long)m * w.K * _streams >= ParallelMinPackElements, _packItem);

        // Rows: as few blocks as keep each block's packed A in L2, of equal size. Columns: enough chunks for every core
        // to take several items, each narrow enough for its C block to stay in L2. A perturbed product's item is a
        // column chunk over every row block, so each panel's z is made once.
        int mBlocks = (_panelsM + GemmBlocking.Mc / Mr - 1) / (GemmBlocking.Mc / Mr);
        _panelsPerMBlock = (_panelsM + mBlocks - 1) / mBlocks;
        mBlocks = (_panelsM + _panelsPerMBlock - 1) / _panelsPerMBlock;
        _mBlocks = mBlocks;
        _panelsN = (w.N + Nr - 1) / Nr;
        int itemsPerChunk = _perturbed ? 1 : mBlocks;
        int wantedChunks = Math.Clamp((workers * ItemsPerWorker + itemsPerChunk - 1) / itemsPerChunk, 1, _panelsN);
        _panelsPerNChunk = (_panelsN + wantedChunks - 1) / wantedChunks;
        _panelsPerNChunk = Math.Clamp(GemmBlocking.ItemBytes / (_panelsPerMBlock * Mr * Nr * sizeof(float)), 1, _panelsPerNChunk);
        _nChunks = (_panelsN + _panelsPerNChunk - 1) / _panelsPerNChunk;
        ParallelItems.Run(itemsPerChunk * _nChunks, (long)m * w.N * w.K * _streams >= ParallelMinMultiplyAdds, _computeItem);

        Array.Clear(_a);
        Array.Clear(_packedA);
        Array.Clear(_bias);
        Array.Clear(_c);
    }

    private void PackItem(int item)
    {
        int packItems = (_panelsM + _panelsPerPackItem - 1) / _panelsPerPackItem;
        int stream = item / packItems;
        int firstPanel = item % packItems * _panelsPerPackItem;
        int endPanel = Math.Min(_panelsM, firstPanel + _panelsPerPackItem);
        for (int p = firstPanel; p < endPanel; p++)
            ActivationPacking.PackRows((float*)_a[stream], _m, _w.K, PanelStart(p), PanelStart(p + 1) - PanelStart(p),
                (float*)_packedA[stream], _simd);
    }

    /// <summary>First row of A panel <paramref name="p"/>: the first m mod panels panels have one row more.</summary>
    private int PanelStart(int p) => p * _panelRows + Math.Min(p, _tallerPanels);

    private void ComputeItem(int item)
    {
        switch (_w.Type)
        {
            case DType.F32 when _perturbed: ComputePerturbedItem<Float32Storage>(item); break;
            case DType.F16 when _perturbed: ComputePerturbedItem<Float16Storage>(item); break;
            case DType.BF16 when _perturbed: ComputePerturbedItem<BFloat16Storage>(item); break;
            case DType.F32: ComputeItem<Float32Storage>(item); break;
            case DType.F16: ComputeItem<Float16Storage>(item); break;
            case DType.BF16: ComputeItem<BFloat16Storage>(item); break;
            default: throw new ArgumentException($"cannot multiply by a {_w.Type} weight");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ComputeItem<TFormat>(int item) where TFormat : struct, IStorageFormat
    {
        int mBlock = item / _nChunks, nChunk = item % _nChunks;
        int firstPanel = mBlock * _panelsPerMBlock, endPanel = Math.Min(_panelsM, firstPanel + _panelsPerMBlock);
        int pStart = nChunk * _panelsPerNChunk, pEnd = Math.Min(_panelsN, pStart + _panelsPerNChunk);
        int k = _w.K;
        float* panel = (t_weightPanel ??= new PackBuffer()).Get((long)Kc * Nr);
        bool prefetch = PanelStart(endPanel) - PanelStart(firstPanel) <= GemmBlocking.PrefetchMaxRows;
        for (int k0 = 0; k0 < k; k0 += Kc)
        {
            int kc = Math.Min(Kc, k - k0);
            for (int p = pStart; p < pEnd; p++)
            {
                int n0 = p * Nr, cols = Math.Min(Nr, _w.N - n0);
                WeightPacking.PackPanel<TFormat>(_w, n0, cols, k0, kc, panel, _simd, prefetchNext: prefetch && p + 1 < pEnd);
                RunPanel(0, panel, firstPanel, endPanel, p, k0, kc);
            }
        }
    }

    /// <summary>
    /// A perturbed product's item: one column chunk over every row block. Per k block, each panel of the chunk is
    /// packed, its z made and both streams' B + scale·z written once; then the row blocks run against them, each
    /// block's packed A staying in L2 across the chunk's panels as in the plain product.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ComputePerturbedItem<TFormat>(int nChunk) where TFormat : struct, IStorageFormat
    {
        int pStart = nChunk * _panelsPerNChunk, pEnd = Math.Min(_panelsN, pStart + _panelsPerNChunk);
        int panels = pEnd - pStart, k = _w.K;
        const long PanelFloats = (long)Kc * Nr;
        float* panel = (t_weightPanel ??= new PackBuffer()).Get(PanelFloats);
        float* noiseRows = (t_noiseRows ??= new PackBuffer()).Get(PanelFloats);
        float* noisePanel = (t_noisePanel ??= new PackBuffer()).Get(PanelFloats);
        float* perturbed = (t_perturbedPanel ??= new PackBuffer()).Get(_streams * panels * PanelFloats);
        for (int k0 = 0; k0 < k; k0 += Kc)
        {
            int kc = Math.Min(Kc, k - k0);
            for (int p = pStart; p < pEnd; p++)
            {
                int n0 = p * Nr, cols = Math.Min(Nr, _w.N - n0);
                WeightPacking.PackPanel<TFormat>(_w, n0, cols, k0, kc, panel, _simd, prefetchNext: p + 1 < pEnd);
                PackNoise(n0, cols, k0, kc, noiseRows, noisePanel);
                for (int s = 0; s < _streams; s++)
                {
                    float* streamPanel = perturbed + (s * panels + p - pStart) * PanelFloats;
                    CpuPerturbation.AddScaled(panel, _scales[s], noisePanel, streamPanel, kc * Nr);
                    if (_rounding != DType.F32) CpuConvert.Round(new Span<float>(streamPanel, kc * Nr), _rounding);
                }
            }
            for (int mBlock = 0; mBlock < _mBlocks; mBlock++)
            {
                int firstPanel = mBlock * _panelsPerMBlock, endPanel = Math.Min(_panelsM, firstPanel + _panelsPerMBlock);
                for (int p = pStart; p < pEnd; p++)
                    for (int s = 0; s < _streams; s++)
                        RunPanel(s, perturbed + (s * panels + p - pStart) * PanelFloats, firstPanel, endPanel, p, k0, kc);
            }
        }
    }

    /// <summary>Stream <paramref name="stream"/>'s A panels [firstPanel, endPanel) against one packed B panel for one k block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunPanel(int stream, float* b, int firstPanel, int endPanel, int p, int k0, int kc)
    {
        int n = _w.N, n0 = p * Nr, cols = Math.Min(Nr, n - n0);
        bool accumulate = k0 > 0, lastBlock = k0 + kc == _w.K;
        float* c = (float*)_c[stream], packedA = (float*)_packedA[stream];
        float* bias = lastBlock && _bias[stream] != 0 ? (float*)_bias[stream] + n0 : null;
        float* edgeTile = stackalloc float[cols == Nr ? 0 : Mr * Nr];
        for (int ap = firstPanel; ap < endPanel; ap++)
        {
            int i0 = PanelStart(ap), rows = PanelStart(ap + 1) - i0;
            float* aPanel = ActivationPacking.Panel(packedA, _m, i0, k0, kc);
            float* cTile = c + (long)i0 * n + n0;
            if (cols == Nr)
            {
                Kernel(rows, aPanel, b, kc, cTile, n, accumulate, bias);
            }
            else
            {
                Kernel(rows, aPanel, b, kc, edgeTile, Nr, accumulate: false, bias: null);
                MergeEdge(edgeTile, rows, cols, cTile, n, accumulate, bias);
            }
        }
    }

    /// <summary>
    /// z of the panel's elements B(k0 .. k0 + kc, n0 .. n0 + cols) in the packed layout (columns cols..31 zero). In
    /// the (N,K) layout each column is a run of kc consecutive stored elements: generated as rows, then packed by the
    /// same transpose as the weight; in the (K,N) layout each k holds the panel's columns side by side.
    /// </summary>
    private void PackNoise(int n0, int cols, int k0, int kc, float* noiseRows, float* noisePanel)
    {
        if (_w.Transposed)
        {
            for (int kk = 0; kk < kc; kk++)
            {
                var row = new Span<float>(noisePanel + (long)kk * Nr, Nr);
                GaussianNoise.Fill(_seed, _firstIndex + (ulong)_w.IndexOf(k0 + kk, n0), row[..cols]);
                row[cols..].Clear();
            }
            return;
        }
        for (int j = 0; j < cols; j++)
            GaussianNoise.Fill(_seed, _firstIndex + (ulong)_w.IndexOf(k0, n0 + j), new Span<float>(noiseRows + (long)j * kc, kc));
        var generated = new WeightMatrix(noiseRows, DType.F32, transposed: false, cols, kc);
        WeightPacking.PackPanel<Float32Storage>(generated, 0, cols, 0, kc, noisePanel, _simd, prefetchNext: false);
    }

    private void Kernel(int rows, float* a, float* b, int kc, float* c, long ldc, bool accumulate, float* bias)
    {
        if (_simd == SimdLevel.Avx512) MicroKernel512.Run(rows, a, b, kc, c, ldc, accumulate, bias);
        else MicroKernel256.Run(rows, a, b, kc, c, ldc, accumulate, bias);
    }

    /// <summary>The valid columns of a partial tile, finished in the kernel's order: (C + product) + bias.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MergeEdge(float* tile, int rows, int cols, float* c, long ldc, bool accumulate, float* bias)
    {
        for (int i = 0; i < rows; i++)
        {
            float* row = c + i * ldc;
            for (int j = 0; j < cols; j++)
            {
                float v = tile[i * Nr + j];
                if (accumulate) v = row[j] + v;
                if (bias != null) v += bias[j];
                row[j] = v;
            }
        }
    }
}
