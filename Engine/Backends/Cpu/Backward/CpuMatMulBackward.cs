using System.Numerics.Tensors;
using MeZO.Engine.Backends.Cpu.MatMul;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu.Backward;

/// <summary>
/// The backward of the linear layer output(M, N) = x(M, K)·Wᵀ + bias. Both products run on the forward's packed,
/// cache-blocked product (<see cref="PackedGemm"/>), which takes its right operand in either storage order and any
/// float dtype — so the weight is never converted or copied, and each result depends on the shape alone
/// (bit-identical on every call):
/// <list type="bullet">
/// <item>inputGrad(M, K) = outputGrad(M, N)·W(N, K): the weight read with its roles swapped (its N is the reduction);</item>
/// <item>weightGrad += Aᵀ·B over the M rows: for W (N, K), A = outputGrad and B = x; for GPT-2's (K, N), A = x and
/// B = outputGrad. Aᵀ is transposed into a scratch buffer (the packed product wants A row-major), the product lands in
/// another, which is then added: the sum starts from zero, so a second call adds exactly the same amount;</item>
/// <item>biasGrad += the column sums of outputGrad, split by columns (<see cref="ColumnSplit"/>).</item>
/// </list>
/// </summary>
internal static unsafe class CpuMatMulBackward
{
    /// <summary>Aᵀ and the product Aᵀ·B of the weight gradient, per calling thread.</summary>
    [ThreadStatic] private static PackBuffer? t_transposed, t_product;

    private const int TransposeTile = 32;

    /// <summary>The weight gradient's scratch (Aᵀ band and product band) per calling thread: 16 Mi floats, 64 MiB.</summary>
    private const long ScratchFloats = 1L << 24;

    /// <summary>
    /// Shapes validated by <see cref="BackwardContracts.Linear"/>: x and outputGrad F32, weight (N, K) or, when
    /// <paramref name="weightTransposed"/>, (K, N) of any float dtype; inputGrad (M, K) =, weightGrad (W's shape) F32 +=,
    /// biasGrad (N) F32 +=, each skipped when null.
    /// </summary>
    public static void Linear(Tensor x, Tensor weight, bool weightTransposed, Tensor outputGrad, Tensor? inputGrad, Tensor? weightGrad,
        Tensor? biasGrad) =>
        Linear(x, weight, weightTransposed, outputGrad, inputGrad, weightGrad, biasGrad, ScratchFloats);

    /// <summary>As the public overload, with the weight gradient's scratch limited to <paramref name="scratchFloats"/> (tests force several bands).</summary>
    internal static void Linear(Tensor x, Tensor weight, bool weightTransposed, Tensor outputGrad, Tensor? inputGrad, Tensor? weightGrad,
        Tensor? biasGrad, long scratchFloats)
    {
        int k = x.Shape[-1];
        int n = outputGrad.Shape[-1];
        int m = checked((int)x.Shape.Rows);
        float* xp = (float*)x.Address, dy = (float*)outputGrad.Address;
        if (inputGrad is not null && m > 0 && k > 0)
        {
            float* dx = (float*)inputGrad.Address;
            if (n == 0)
            {
                new Span<float>(dx, checked(m * k)).Clear();
            }
            else
            {
                // B(k' = n, n' = k) = W[n, k]: stored (N, K) that is B's (K', N') row-major order, hence "transposed".
                var w = new WeightMatrix((void*)weight.Address, weight.DType, !weightTransposed, k, n);
                PackedGemm.Run(dy, m, w, null, dx, SimdLevels.Best);
            }
        }
        if (weightGrad is not null && m > 0 && k > 0 && n > 0)
            WeightGradient(weightTransposed ? xp : dy, weightTransposed ? k : n, weightTransposed ? dy : xp, weightTransposed ? n : k, m,
                (float*)weightGrad.Address, scratchFloats);
        if (biasGrad is not null && m > 0 && n > 0)
            ColumnSums(dy, m, n, (float*)biasGrad.Address);
    }

    /// <summary>
    /// grad(rows, columns) += Aᵀ·B with A (m, rows) and B (m, columns) row-major, in bands of gradient rows so that the
    /// two scratch buffers stay within <paramref name="scratchFloats"/> (an LM head's Aᵀ would otherwise be as large as its
    /// logits). Each element is one product over all m rows whatever the band, so banding changes no bit.
    /// </summary>
    private static void WeightGradient(float* a, int rows, float* b, int columns, int m, float* grad, long scratchFloats)
    {
        int band = (int)Math.Clamp(scratchFloats / ((long)m + columns), 1, rows);
        float* transposed = (t_transposed ??= new PackBuffer()).Get((long)band * m);
        float* product = (t_product ??= new PackBuffer()).Get((long)band * columns);
        // B(k' = row of A and B, n' = column) stored (M, columns): B's (K', N') order, hence "transposed".
        var bMatrix = new WeightMatrix(b, DType.F32, true, columns, m);
        for (int r0 = 0; r0 < rows; r0 += band)
        {
            int bandRows = Math.Min(band, rows - r0);
            Transpose(a + r0, m, bandRows, rows, transposed);
            PackedGemm.Run(transposed, bandRows, bMatrix, null, product, SimdLevels.Best);
            float* target = grad + (long)r0 * columns;
            CpuParallel.For((long)bandRows * columns, 16384, (start, end) =>
            {
                var dst = new Span<float>(target + start, (int)(end - start));
                TensorPrimitives.Add(dst, new ReadOnlySpan<float>(product + start, dst.Length), dst);
            });
        }
    }

    /// <summary>
    /// destination(columns, rows) = source(rows, columns)ᵀ, source rows <paramref name="sourceStride"/> apart, in square
    /// tiles so both sides stay in cache.
    /// </summary>
    private static void Transpose(float* source, int rows, int columns, int sourceStride, float* destination)
    {
        int tileRows = (columns + TransposeTile - 1) / TransposeTile;
        CpuParallel.For(tileRows, 1, (start, end) =>
        {
            for (long tile = start; tile < end; tile++)
            {
                int c0 = (int)tile * TransposeTile, c1 = Math.Min(columns, c0 + TransposeTile);
                for (int r0 = 0; r0 < rows; r0 += TransposeTile)
                {
                    int r1 = Math.Min(rows, r0 + TransposeTile);
                    for (int c = c0; c < c1; c++)
                        for (int r = r0; r < r1; r++)
                            destination[(long)c * rows + r] = source[(long)r * sourceStride + c];
                }
            }
        });
    }

    /// <summary>sums(columns) += Σ_rows source(rows, columns), each column summed in row order from zero.</summary>
    private static void ColumnSums(float* source, int rows, int columns, float* sums)
    {
        ColumnSplit.For(columns, rows, (c0, c1) =>
        {
            int width = c1 - c0;
            float[] scratch = System.Buffers.ArrayPool<float>.Shared.Rent(width);
            var total = scratch.AsSpan(0, width);
            total.Clear();
            for (long r = 0; r < rows; r++) TensorPrimitives.Add(new ReadOnlySpan<float>(source + r * columns + c0, width), total, total);
            var dst = new Span<float>(sums + c0, width);
            TensorPrimitives.Add(dst, total, dst);
            System.Buffers.ArrayPool<float>.Shared.Return(scratch);
        });
    }
}
