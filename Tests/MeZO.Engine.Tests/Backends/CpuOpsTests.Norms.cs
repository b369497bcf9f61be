using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends;

/// <summary>LayerNorm and RMSNorm over the last axis, against a two-pass double-precision reference.</summary>
public sealed partial class CpuOpsTests
{
    private const int NormRows = 5;

    [Test]
    public void LayerNormMatchesTheDoubleReference(
        [ValueSource(nameof(WeightTypes))] DType type,
        [ValueSource(nameof(AwkwardLengths))] int width,
        [Values] bool withBias)
    {
        var rng = new Random(width + (withBias ? 1000 : 0));
        float[] x = Normal(rng, NormRows * width, scale: 2.0, offset: 0.5);
        float[] weight = Normal(rng, width, scale: 0.2, offset: 1.0);
        float[] bias = Normal(rng, width, scale: 0.2);
        const float eps = 1e-5f;
        var output = Zeros("ln_out", DType.F32, NormRows, width);

        Backend.LayerNorm(F32("hidden", x, NormRows, width), Weight("ln.weight", type, weight, width),
            withBias ? Weight("ln.bias", type, bias, width) : null, eps, output);

        var (expected, scale) = LayerNormReference(x, weight, withBias ? bias : null, eps, width);
        // float32 mean and variance over `width` terms are exact to about width·2⁻²⁴ relative in the worst case;
        // the normalised value then carries that error times its own size, plus a few roundings for ·w + b.
        double relative = (width + 8) * Ulp32;
        AssertClose(ReadF32(output), expected, i => relative * scale[i], "LayerNorm");
    }

    [Test]
    public void LayerNormRowWithALargeMeanKeepsItsPrecision()
    {
        // A mean 1000 standard deviations away from zero (OPT's residual stream has such rows). In float32, E[x²] ≈ 1e6
        // has an ulp of 0.06, so a one-pass E[x²] − E[x]² gets the unit variance wrong by percents.
        const int width = 129;
        float[] x = Normal(new Random(7), 2 * width, scale: 1.0, offset: 1000.0);
        float[] weight = Enumerable.Repeat(1f, width).ToArray();
        var output = Zeros("ln_out", DType.F32, 2, width);

        Backend.LayerNorm(F32("hidden", x, 2, width), Weight("ln.weight", DType.F32, weight, width), null, 1e-5f, output);

        var (expected, _) = LayerNormReference(x, weight, null, 1e-5f, width);
        // Two passes: the float32 sum of 129 values near 1000 (ulp 6e-5, partial sums up to 1.3e5 with ulp 8e-3) puts
        // the mean off by at most ≈ 129·4e-3/129 = 4e-3 in the worst case, typically 1e-4; centring carries that into
        // an output of unit scale. 1e-3 admits a two-pass kernel; a one-pass kernel misses it here (error 3e-3).
        AssertClose(ReadF32(output), expected, _ => 1e-3, "LayerNorm large mean");
    }

    [Test]
    public void RmsNormMatchesTheDoubleReference([ValueSource(nameof(WeightTypes))] DType type, [ValueSource(nameof(AwkwardLengths))] int width)
    {
        var rng = new Random(width);
        float[] x = Normal(rng, NormRows * width, scale: 3.0, offset: -0.5);
        float[] weight = Normal(rng, width, scale: 0.2, offset: 1.0);
        const float eps = 1e-6f;
        var output = Zeros("rms_out", DType.F32, NormRows, width);

        Backend.RmsNorm(F32("hidden", x, NormRows, width), Weight("input_layernorm.weight", type, weight, width), eps, output);

        double[] expected = new double[x.Length];
        double[] scale = new double[x.Length];
        for (int r = 0; r < NormRows; r++)
        {
            double sumSquares = 0;
            for (int c = 0; c < width; c++) sumSquares += (double)x[r * width + c] * x[r * width + c];
            double rstd = 1.0 / Math.Sqrt(sumSquares / width + eps);
            for (int c = 0; c < width; c++)
            {
                int i = r * width + c;
                expected[i] = x[i] * rstd * weight[c];
                scale[i] = Math.Abs(expected[i]);
            }
        }
        // A sum of squares has no cancellation: width·2⁻²⁴ relative bounds it, plus a few roundings in the products.
        double relative = (width + 8) * Ulp32;
        AssertClose(ReadF32(output), expected, i => relative * scale[i], "RmsNorm");
    }

    [Test]
    public void NormsRejectMismatchedShapes()
    {
        var x = F32("hidden", new float[2 * 8], 2, 8);
        var output = Zeros("ln_out", DType.F32, 2, 8);
        var weight = Weight("ln.weight", DType.F32, new float[8], 8);
        AssertNamesTensor(() => Backend.LayerNorm(x, Weight("short.weight", DType.F32, new float[7], 7), null, 1e-5f, output), "short.weight");
        AssertNamesTensor(() => Backend.LayerNorm(x, weight, Weight("short.bias", DType.F32, new float[9], 9), 1e-5f, output), "short.bias");
        AssertNamesTensor(() => Backend.LayerNorm(x, weight, Zeros("int.bias", DType.I32, 8), 1e-5f, output), "int.bias");
        AssertNamesTensor(() => Backend.LayerNorm(x, weight, null, 1e-5f, Zeros("wide_out", DType.F32, 2, 9)), "wide_out");
        AssertNamesTensor(() => Backend.RmsNorm(x, Weight("rms.weight", DType.F32, new float[4], 4), 1e-6f, output), "rms.weight");
        AssertNamesTensor(() => Backend.RmsNorm(Zeros("int_hidden", DType.I32, 2, 8), weight, 1e-6f, output), "int_hidden");
    }

    /// <summary>Two-pass LayerNorm in double; also returns each element's magnitude scale |x̂·w| + |b| for tolerances.</summary>
    private static (double[] Expected, double[] Scale) LayerNormReference(float[] x, float[] weight, float[]? bias, float eps, int width)
    {
        int rows = x.Length / width;
        double[] expected = new double[x.Length], scale = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0;
            for (int c = 0; c < width; c++) mean += x[r * width + c];
            mean /= width;
            double variance = 0;
            for (int c = 0; c < width; c++) variance += (x[r * width + c] - mean) * (x[r * width + c] - mean);
            variance /= width;
            double rstd = 1.0 / Math.Sqrt(variance + eps);
            for (int c = 0; c < width; c++)
            {
                int i = r * width + c;
                double normalised = (x[i] - mean) * rstd;
                double b = bias is null ? 0 : bias[c];
                expected[i] = normalised * weight[c] + b;
                // Width 1 normalises to exactly 0 (variance 0): the scale then comes from eps alone, so floor it at 1.
                scale[i] = Math.Max(1, Math.Abs(normalised * weight[c])) + Math.Abs(b);
            }
        }
        return (expected, scale);
    }
}
