using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Tensors;

namespace MeZO.Verification;

/// <summary>
/// The parity harness: every IBackend and IBackwardOps op on deterministic random inputs of awkward shapes (lengths 1, 3, 17, 129;
/// widths that are not multiples of 32; GQA; padding on both sides; unaligned views), run on the reference backend
/// (the CPU) and on a candidate (the GPU), compared element by element with tolerances that scale with the values
/// and the arithmetic, each explained where it is defined. `mezo verify --backend cuda` and the Gpu tests run it on a
/// GPU; the tests also run it on the kernels compiled for the host.
/// </summary>
public static partial class BackendParity
{
    /// <summary>float32's unit roundoff, 2^-24.</summary>
    private const double F32Unit = 1.0 / (1 << 24);

    /// <summary>Every case; <paramref name="candidate"/> is consulted only for its arithmetic settings.</summary>
    public static IReadOnlyList<ParityCase> Cases(IBackend candidate) =>
        Cases((candidate as CudaBackend)?.Options ?? new CudaBackendOptions { Precision = MatmulPrecision.Float32 });

    /// <summary>Every case, with tolerances for a candidate of these settings (case names do not depend on them).</summary>
    public static IReadOnlyList<ParityCase> Cases(CudaBackendOptions settings)
    {
        return [.. RowCases(), .. NormCases(), .. LinearCases(settings.Precision), .. SixteenBitLinearCases(settings),
            .. EpilogueCases(settings.Precision), .. RopeCases(), .. AttentionCases(), .. ElementwiseCases(), .. LogitCases(),
            .. PerturbationCases(settings.Noise, settings.Precision), .. BackwardCases(settings.Precision), .. OptimizerCases(),
            .. SixteenBitCases(settings.Noise)];
    }

    /// <summary>Runs every case, reporting each as it finishes; an exception in a case is a failed result, not an abort.</summary>
    public static IReadOnlyList<ParityResult> RunAll(IBackend reference, IBackend candidate, Action<ParityResult>? progress = null)
    {
        var results = new List<ParityResult>();
        foreach (var c in Cases(candidate))
        {
            ParityResult result;
            try
            {
                result = c.Run(reference, candidate);
            }
            catch (Exception e)
            {
                result = new ParityResult(c.Operation, c.Name, false, double.NaN, 0, $"{e.GetType().Name}: {e.Message}");
            }
            results.Add(result);
            progress?.Invoke(result);
        }
        return results;
    }

    /// <summary>
    /// Element-wise comparison: |actual − expected| ≤ tolerance(i); NaN must meet NaN and an infinity the same
    /// infinity. The result reports the element where error / tolerance is largest.
    /// </summary>
    internal static ParityResult Compare(string operation, string name, float[] expected, float[] actual, Func<int, double> tolerance)
    {
        if (expected.Length != actual.Length)
            return new ParityResult(operation, name, false, double.NaN, 0, $"{actual.Length} values, expected {expected.Length}");
        double worstRatio = 0, worstError = 0, worstTolerance = 0;
        int worst = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            float e = expected[i], a = actual[i];
            if (float.IsNaN(e) || float.IsNaN(a) || float.IsInfinity(e) || float.IsInfinity(a))
            {
                if (e.Equals(a) || (float.IsNaN(e) && float.IsNaN(a))) continue;
                return new ParityResult(operation, name, false, double.PositiveInfinity, tolerance(i), $"element {i}: expected {e:R}, got {a:R}");
            }
            double error = Math.Abs((double)a - e), allowed = tolerance(i);
            double ratio = error == 0 ? 0 : allowed > 0 ? error / allowed : double.PositiveInfinity;
            if (ratio > worstRatio || worst < 0)
            {
                worstRatio = ratio;
                worstError = error;
                worstTolerance = allowed;
                worst = i;
            }
        }
        bool passed = worstRatio <= 1;
        return new ParityResult(operation, name, passed, worstError, worstTolerance,
            passed || worst < 0 ? "" : $"element {worst}: expected {expected[worst]:R}, got {actual[worst]:R}");
    }

    internal static ParityResult Exact(string operation, string name, float[] expected, float[] actual) =>
        Compare(operation, name, expected, actual, _ => 0);

    internal static ParityResult ExactInts(string operation, string name, int[] expected, int[] actual)
    {
        int mismatch = expected.Length != actual.Length ? 0 : Enumerable.Range(0, expected.Length).FirstOrDefault(i => expected[i] != actual[i], -1);
        return mismatch < 0
            ? new ParityResult(operation, name, true, 0, 0, "")
            : new ParityResult(operation, name, false, double.NaN, 0, expected.Length != actual.Length
                ? $"{actual.Length} values, expected {expected.Length}"
                : $"element {mismatch}: expected {expected[mismatch]}, got {actual[mismatch]}");
    }

    /// <summary>
    /// Both backends must reject the same bad input with a <typeparamref name="TException"/> (the GPU at its next
    /// synchronisation): ArgumentException for a bad index, OverflowException for a MeZO update beyond the dtype's range.
    /// </summary>
    internal static ParityResult BothThrow<TException>(string operation, string name, IBackend reference, IBackend candidate,
        Action<IBackend> run) where TException : Exception
    {
        string Outcome(IBackend backend)
        {
            try
            {
                run(backend);
                backend.Synchronize();
                return "no error";
            }
            catch (TException)
            {
                return typeof(TException).Name;
            }
        }
        string expected = Outcome(reference), actual = Outcome(candidate);
        bool passed = expected == typeof(TException).Name && actual == expected;
        return new ParityResult(operation, name, passed, 0, 0, passed ? "" : $"reference: {expected}, candidate: {actual}");
    }

    /// <summary>The spacing of a storage dtype's values near |v| (relative: 2^-23, 2^-10, 2^-7 of |v|, floored at the smallest normal's).</summary>
    internal static double Ulp(DType type, double v) => type switch
    {
        DType.F32 => Math.Max(Math.Abs(v), 1.2e-38) * Math.Pow(2, -23),
        DType.F16 => Math.Max(Math.Abs(v), 6.1e-5) * Math.Pow(2, -10),
        DType.BF16 => Math.Max(Math.Abs(v), 1.2e-38) * Math.Pow(2, -7),
        _ => 0,
    };

    internal static readonly DType[] FloatTypes = [DType.F32, DType.F16, DType.BF16];
}
