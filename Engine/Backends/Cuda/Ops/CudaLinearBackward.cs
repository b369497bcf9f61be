using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Tensors;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>
/// The backward of output(M, N) = x(M, K)·Wᵀ + bias (CPU twin: CpuMatMulBackward). Both products run on the forward's
/// own path (<see cref="CudaLinear"/>: cuBLASLt or the gemm kernels, chosen by the same precision setting), with the
/// operands' roles swapped rather than copied where the layouts allow:
/// <list type="bullet">
/// <item>inputGrad(M, K) = outputGrad(M, N)·W(N, K): the weight read with its storage order flipped (its N is the
/// reduction), any float dtype, never converted or copied;</item>
/// <item>weightGrad += Aᵀ·B over the M rows (W (N, K): A = outputGrad, B = x; GPT-2's (K, N): A = x, B = outputGrad).
/// The products take their left operand row-major only, so Aᵀ is transposed into scratch (Kernels/transpose.cu), B
/// is read in place as a "transposed weight", and the product lands in scratch and is then added (Kernels/add.cu):
/// summed from zero and then added, as the CPU twin does. Bands of gradient rows keep the scratch bounded (an LM
/// head's Aᵀ would be as large as its logits); each element is one product over all M rows whatever the band;</item>
/// <item>biasGrad += the column sums of outputGrad, chunked and deterministic (<see cref="CudaColumnSums"/>).</item>
/// </list>
/// </summary>
internal static class CudaLinearBackward
{
    private const int TransposeTile = 32, TransposeRows = 8;

    /// <summary>transpose.cu's tile and block, which it takes from here (NVRTC -D options).</summary>
    public static IReadOnlyList<(string Name, int Value)> TransposeDefines { get; } =
        [("TRANSPOSE_TILE", TransposeTile), ("TRANSPOSE_ROWS", TransposeRows)];

    /// <summary>The weight gradient's scratch (a band of Aᵀ and of the product): 16 Mi floats, 64 MiB, as the CPU twin's.</summary>
    private const long ScratchFloats = 1L << 24;

    public static void Run(CudaBackend backend, Tensor x, Tensor weight, bool weightTransposed, Tensor outputGrad, Tensor? inputGrad,
        Tensor? weightGrad, Tensor? biasGrad) =>
        Run(backend, x, weight, weightTransposed, outputGrad, inputGrad, weightGrad, biasGrad, ScratchFloats);

    /// <summary>
    /// As the public overload, with the weight gradient's scratch limited to <paramref name="scratchFloats"/> (tests force
    /// several bands).
    /// </summary>
    internal static void Run(CudaBackend backend, Tensor x, Tensor weight, bool weightTransposed, Tensor outputGrad, Tensor? inputGrad,
        Tensor? weightGrad, Tensor? biasGrad, long scratchFloats)
    {
        int k = x.Shape[-1], n = outputGrad.Shape[-1];
        long m = x.Shape.Rows;
        if (inputGrad is not null && m > 0 && k > 0)
        {
            if (n == 0)
                backend.Runtime.Zero(inputGrad.Address, inputGrad.ByteCount);
            else // B(K' = N, N' = K) = W[n, k]: stored (N, K), which is B's (K', N') order, hence "transposed" for nn.Linear's W.
                CudaLinear.Run(backend, outputGrad.Address, inputGrad.Address, m, k, n, outputGrad.Name, weight.Address, weight.DType,
                    !weightTransposed);
        }
        if (weightGrad is not null && m > 0 && k > 0 && n > 0)
            WeightGradient(backend, weightTransposed ? x : outputGrad, weightTransposed ? outputGrad : x, weightGrad, scratchFloats);
        if (biasGrad is not null && m > 0 && n > 0)
        {
            string what = $"the bias gradient of '{weight.Name}'";
            nint partials = backend.GradientScratch.Reserve(backend.Capturing,
                (long)CudaColumnSums.Chunks(m, what) * n * sizeof(float), 0).First;
            CudaColumnSums.Add(backend, outputGrad.Address, (int)m, n, partials, biasGrad.Address, what);
        }
    }

    /// <summary>grad(rows, columns) += Aᵀ·B with A (M, rows) and B (M, columns), float32 row-major.</summary>
    private static void WeightGradient(CudaBackend backend, Tensor a, Tensor b, Tensor grad, long scratchFloats)
    {
        int rows = a.Shape[-1], columns = b.Shape[-1];
        long m = a.Shape.Rows;
        if ((m + TransposeTile - 1) / TransposeTile > LaunchShape.MaxGridYZ || m > int.MaxValue)
            throw new NotSupportedException($"LinearBackward: {m} rows of '{a.Name}' exceed the transpose's grid " +
                                            $"({LaunchShape.MaxGridYZ * TransposeTile} rows)");
        int band = (int)Math.Clamp(scratchFloats / (m + columns), 1, rows);
        var (transposed, product) = backend.GradientScratch.Reserve(backend.Capturing, band * m * sizeof(float),
            (long)band * columns * sizeof(float));
        for (int r0 = 0; r0 < rows; r0 += band)
        {
            int count = Math.Min(band, rows - r0);
            var grid = new Dim3((uint)((count + TransposeTile - 1) / TransposeTile), (uint)((m + TransposeTile - 1) / TransposeTile));
            backend.Launch(KernelCatalog.Transpose, "mezo_transpose", new LaunchShape(grid, new Dim3(TransposeTile * TransposeRows)),
                Pointer(a.Address), I32((int)m), I32(rows), I32(r0), I32(count), Pointer(transposed));
            // B(K' = M, N' = columns) stored (M, columns): B's (K', N') order, hence "transposed".
            CudaLinear.Run(backend, transposed, product, count, columns, (int)m, a.Name, b.Address, DType.F32, transposed: true);
            long elements = (long)count * columns;
            backend.Launch(KernelCatalog.Add, "mezo_add", LaunchShape.Striding(elements),
                Pointer(grad.Address + (nint)((long)r0 * columns * sizeof(float))), Pointer(product), I32((int)DType.F32), I64(elements));
        }
    }
}
