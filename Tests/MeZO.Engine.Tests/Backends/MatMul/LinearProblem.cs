using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cpu.MatMul;
using MeZO.Engine.Tensors;
using NUnit.Framework;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Engine.Tests.Backends.MatMul;

/// <summary>
/// One random linear layer on the CPU backend — x, the weight in both storage layouts, an optional bias, an output —
/// and its naive double-precision reference over the very values the engine reads (weights and bias already rounded
/// to their storage dtype).
/// </summary>
internal sealed class LinearProblem : IDisposable
{
    /// <summary>
    /// Allowed error: this many float32 ulps (2⁻²³, relative) of Σ|x·w| + |bias|. Each of the ~K roundings of a float32
    /// FMA chain is at most 2⁻²⁴ of a partial sum, and for random-sign data the partial sums grow like √i·σ(x·w); the
    /// roundings add in quadrature to a standard deviation near 0.5·2⁻²⁴·Σ|x·w| whatever K is (and whatever the
    /// blocked summation order), so the worst of the ~10⁶ elements these tests check lands near 5·2⁻²⁴ ≈ 2.5 ulps.
    /// Real defects are far outside: a dropped, doubled or misplaced product is off by about Σ|x·w|/K — 2000 ulps
    /// even at K = 4096 — and a weight read at the wrong precision by ~2⁻⁹ of it.
    /// </summary>
    public const double ToleranceUlps = 4;

    private const double Float32Ulp = 1.0 / (1 << 23);

    private readonly float[] _x;
    private readonly float[] _weights; // (N, K), as the engine reads them
    private readonly float[]? _bias;
    private (double[] Sums, double[] Magnitudes)? _reference;
    private Tensor? _biasF32;

    public LinearProblem(CpuBackend backend, int[] xDims, int n, DType weightType, bool withBias, int seed)
    {
        Backend = backend;
        K = xDims[^1];
        N = n;
        Rows = 1;
        foreach (int d in xDims[..^1]) Rows *= d;
        var random = new Random(seed);
        _x = Uniform(random, Rows * K, DType.F32);
        _weights = Uniform(random, N * K, weightType);
        _bias = withBias ? Uniform(random, N, weightType) : null;

        X = backend.Allocate(new TensorShape(xDims), DType.F32, MemoryCategory.Activations, "x");
        backend.Upload<float>(X, _x);
        WeightRows = backend.Allocate(new TensorShape(N, K), weightType, MemoryCategory.Weights, "weight (N,K)");
        Store(WeightRows, _weights);
        var columns = new float[K * N];
        for (int j = 0; j < N; j++)
            for (int k = 0; k < K; k++)
                columns[k * N + j] = _weights[j * K + k];
        WeightColumns = backend.Allocate(new TensorShape(K, N), weightType, MemoryCategory.Weights, "weight (K,N)");
        Store(WeightColumns, columns);
        if (_bias is not null)
        {
            Bias = backend.Allocate(new TensorShape(N), weightType, MemoryCategory.Weights, "bias");
            Store(Bias, _bias);
        }
        int[] outDims = (int[])xDims.Clone();
        outDims[^1] = N;
        Output = backend.Allocate(new TensorShape(outDims), DType.F32, MemoryCategory.Activations, "output");
    }

    public CpuBackend Backend { get; }
    public int Rows { get; }
    public int N { get; }
    public int K { get; }
    public Tensor X { get; }
    public Tensor WeightRows { get; }
    public Tensor WeightColumns { get; }
    public Tensor? Bias { get; }
    public Tensor Output { get; }

    /// <summary>Runs the product on one code path and returns the output.</summary>
    public float[] Run(bool transposed, SimdLevel simd)
    {
        // NaN everywhere first: an element the product forgets to write fails the comparison.
        Backend.Upload<float>(Output, Enumerable.Repeat(float.NaN, Rows * N).ToArray());
        CpuMatMul.Linear(X, transposed ? WeightColumns : WeightRows, transposed, Bias, Output, simd);
        return Download();
    }

    /// <summary>Runs the packed product directly, whatever the row count (the dispatcher streams few rows).</summary>
    public unsafe float[] RunPacked(bool transposed, SimdLevel simd)
    {
        Backend.Upload<float>(Output, Enumerable.Repeat(float.NaN, Rows * N).ToArray());
        var weight = transposed ? WeightColumns : WeightRows;
        var w = new WeightMatrix((void*)weight.Address, weight.DType, transposed, N, K);
        float* bias = Bias is null ? null : ConvertedBias();
        PackedGemm.Run((float*)X.Address, Rows, w, bias, (float*)Output.Address, simd);
        return Download();
    }

    public float[] Download()
    {
        var result = new float[Rows * N];
        Backend.Download<float>(Output, result);
        return result;
    }

    /// <summary>Checks every output element against the double-precision reference.</summary>
    public void AssertMatchesReference(float[] actual, string path)
    {
        var (sums, magnitudes) = _reference ??= Reference();
        double worst = -1;
        int worstIndex = 0;
        for (int i = 0; i < sums.Length; i++)
        {
            double ulps = Math.Abs(actual[i] - sums[i]) / (Float32Ulp * Math.Max(magnitudes[i], double.Epsilon));
            if (double.IsNaN(ulps)) ulps = double.PositiveInfinity;
            if (ulps > worst)
            {
                worst = ulps;
                worstIndex = i;
            }
        }
        Assert.That(worst, Is.LessThanOrEqualTo(ToleranceUlps),
            $"{path}: output ({worstIndex / N}, {worstIndex % N}) = {actual[worstIndex]}, reference {sums[worstIndex]}, " +
            $"off by {worst:F2} ulps of Σ|x·w|");
    }

    /// <summary>The naive triple loop in double, and Σ|x·w| + |bias| per output for the tolerance.</summary>
    private (double[] Sums, double[] Magnitudes) Reference()
    {
        var sums = new double[Rows * N];
        var magnitudes = new double[Rows * N];
        for (int i = 0; i < Rows; i++)
        {
            for (int j = 0; j < N; j++)
            {
                double sum = 0, magnitude = 0;
                for (int k = 0; k < K; k++)
                {
                    double product = (double)_x[i * K + k] * _weights[j * K + k];
                    sum += product;
                    magnitude += Math.Abs(product);
                }
                if (_bias is not null)
                {
                    sum += _bias[j];
                    magnitude += Math.Abs(_bias[j]);
                }
                sums[i * N + j] = sum;
                magnitudes[i * N + j] = magnitude;
            }
        }
        return (sums, magnitudes);
    }

    private unsafe float* ConvertedBias()
    {
        _biasF32 ??= Backend.Allocate(new TensorShape(N), DType.F32, MemoryCategory.Workspace, "bias f32");
        Backend.Upload<float>(_biasF32, _bias);
        return (float*)_biasF32.Address;
    }

    public void Dispose()
    {
        _biasF32?.Dispose();
        X.Dispose();
        WeightRows.Dispose();
        WeightColumns.Dispose();
        Bias?.Dispose();
        Output.Dispose();
    }

    /// <summary>Uniform values in [-1, 1), rounded to <paramref name="type"/> so the reference sees what is stored.</summary>
    private static float[] Uniform(Random random, int count, DType type)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = ScalarConversions.RoundTo(type, (float)(random.NextDouble() * 2 - 1));
        return values;
    }

    private void Store(Tensor tensor, float[] values)
    {
        switch (tensor.DType)
        {
            case DType.F32:
                Backend.Upload<float>(tensor, values);
                break;
            case DType.F16:
                Backend.Upload<ushort>(tensor, values.Select(ScalarConversions.SingleToHalf).ToArray());
                break;
            case DType.BF16:
                Backend.Upload<ushort>(tensor, values.Select(ScalarConversions.SingleToBFloat16).ToArray());
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(tensor), tensor.DType, "not a float dtype");
        }
    }
}
