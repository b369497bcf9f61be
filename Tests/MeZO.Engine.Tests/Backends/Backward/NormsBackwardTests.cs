using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu.Backward;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Backward;

/// <summary><see cref="CpuNormsBackward"/>: LayerNorm and RMSNorm against finite differences of two-pass double forwards.</summary>
[TestFixture]
public sealed class NormsBackwardTests : BackwardTestBase
{
    private const float LayerNormEps = 1e-5f;
    private const float RmsNormEps = 1e-6f;

    [Test]
    public void LayerNormBackwardMatchesFiniteDifferences(
        [ValueSource(nameof(WeightTypes))] DType type,
        [ValueSource(nameof(AwkwardRows))] int rows,
        [ValueSource(nameof(AwkwardWidths))] int width,
        [Values] bool withBias)
    {
        var rng = new Random(rows * 1000 + width + (withBias ? 7 : 0));
        float[] x = Normal(rng, rows * width, scale: 2.0, offset: 0.5);
        float[] weight = Normal(rng, width, scale: 0.2, offset: 1.0);
        float[] bias = Normal(rng, width, scale: 0.2);
        float[] r = Normal(rng, rows * width);
        float[] weightInitial = Normal(rng, width), biasInitial = Normal(rng, width);
        var inputGrad = Zeros("hidden.grad", DType.F32, rows, width);
        var weightGrad = F32("ln.weight.grad", weightInitial, width);
        var biasGrad = withBias ? F32("ln.bias.grad", biasInitial, width) : null;

        Backend.LayerNormBackward(F32("hidden", x, rows, width), Weight("ln.weight", type, weight, width), LayerNormEps,
            F32("ln_out.grad", r, rows, width), inputGrad, weightGrad, biasGrad);

        double[] xd = ToDouble(x), wd = ToDouble(weight), bd = ToDouble(bias);
        double Loss() => Dot(r, LayerNormForward(xd, wd, bd, LayerNormEps, rows, width));
        AssertGradient(ReadF32(inputGrad), FiniteDifferences(xd, Loss), width, "inputGrad", NormTermScale(x, r, weight, rows, width));
        AssertGradient(ReadF32(weightGrad), Plus(weightInitial, FiniteDifferences(wd, Loss)), rows, "weightGrad");
        if (biasGrad is not null)
            AssertGradient(ReadF32(biasGrad), Plus(biasInitial, FiniteDifferences(bd, Loss)), rows, "biasGrad");
    }

    [Test]
    public void RmsNormBackwardMatchesFiniteDifferences(
        [ValueSource(nameof(WeightTypes))] DType type,
        [ValueSource(nameof(AwkwardRows))] int rows,
        [ValueSource(nameof(AwkwardWidths))] int width)
    {
        var rng = new Random(rows * 1000 + width);
        float[] x = Normal(rng, rows * width, scale: 3.0, offset: -0.5);
        float[] weight = Normal(rng, width, scale: 0.2, offset: 1.0);
        float[] r = Normal(rng, rows * width);
        float[] weightInitial = Normal(rng, width);
        var inputGrad = Zeros("hidden.grad", DType.F32, rows, width);
        var weightGrad = F32("norm.weight.grad", weightInitial, width);

        Backend.RmsNormBackward(F32("hidden", x, rows, width), Weight("norm.weight", type, weight, width), RmsNormEps,
            F32("norm_out.grad", r, rows, width), inputGrad, weightGrad);

        double[] xd = ToDouble(x), wd = ToDouble(weight);
        double Loss() => Dot(r, RmsNormForward(xd, wd, RmsNormEps, rows, width));
        // One feature: x·rstd ≈ ±1, so the gradient rstd·g·(1 − x²·rstd²) ≈ g·eps/|x|³ is a cancellation far below
        // its terms rstd·|g|: the term scale, not the result, sizes the float32 error.
        AssertGradient(ReadF32(inputGrad), FiniteDifferences(xd, Loss), width, "inputGrad", NormTermScale(x, r, weight, rows, width));
        AssertGradient(ReadF32(weightGrad), Plus(weightInitial, FiniteDifferences(wd, Loss)), rows, "weightGrad");
    }

    [Test]
    public void NormBackwardsAddTwiceWhenCalledTwiceAndGiveTheSameBits([Values] bool rms)
    {
        // Enough rows and columns to split over the cores both ways.
        const int rows = 300, width = 257;
        var rng = new Random(rms ? 1 : 2);
        var x = F32("hidden", Normal(rng, rows * width, scale: 2.0, offset: 0.5), rows, width);
        var weight = Weight("norm.weight", DType.BF16, Normal(rng, width, scale: 0.2, offset: 1.0), width);
        var outputGrad = F32("norm_out.grad", Normal(rng, rows * width), rows, width);
        var inputs = new[] { Zeros("first.grad", DType.F32, rows, width), Zeros("second.grad", DType.F32, rows, width) };
        var weightGrads = new[] { Zeros("first.weight.grad", DType.F32, width), Zeros("second.weight.grad", DType.F32, width) };
        var biasGrads = new[] { Zeros("first.bias.grad", DType.F32, width), Zeros("second.bias.grad", DType.F32, width) };

        for (int call = 0; call < 2; call++)
        {
            if (rms) Backend.RmsNormBackward(x, weight, RmsNormEps, outputGrad, inputs[call], weightGrads[call]);
            else Backend.LayerNormBackward(x, weight, LayerNormEps, outputGrad, inputs[call], weightGrads[call], biasGrads[call]);
        }
        AssertSameBits(ReadF32(inputs[0]), ReadF32(inputs[1]), "inputGrad");
        AssertSameBits(ReadF32(weightGrads[0]), ReadF32(weightGrads[1]), "weightGrad");
        float[] once = ReadF32(weightGrads[0]), onceBias = ReadF32(biasGrads[0]);

        if (rms) Backend.RmsNormBackward(x, weight, RmsNormEps, outputGrad, inputs[0], weightGrads[0]);
        else Backend.LayerNormBackward(x, weight, LayerNormEps, outputGrad, inputs[0], weightGrads[0], biasGrads[0]);

        // Each call sums its rows from zero and then adds the total: the second adds the first's value exactly.
        AssertSameBits(once.Select(v => 2 * v).ToArray(), ReadF32(weightGrads[0]), "weightGrad twice");
        AssertSameBits(onceBias.Select(v => 2 * v).ToArray(), ReadF32(biasGrads[0]), "biasGrad twice");
        Assert.That(once.Any(v => v != 0), "the weight gradient must not be all zeros");
    }

    [Test]
    public void NormBackwardsMayWriteTheInputGradientOverTheOutputGradient([Values] bool rms)
    {
        // The parameter sums are taken before any input gradient is written, and each row reads its output gradient
        // before writing: a backward pass may reuse the output gradient's buffer.
        const int rows = 17, width = 129;
        var rng = new Random(rms ? 31 : 32);
        var x = F32("hidden", Normal(rng, rows * width, scale: 2.0), rows, width);
        var weight = Weight("norm.weight", DType.F32, Normal(rng, width, scale: 0.2, offset: 1.0), width);
        float[] r = Normal(rng, rows * width);
        var separate = Zeros("hidden.grad", DType.F32, rows, width);
        var shared = F32("shared.grad", r, rows, width);
        var weightGrads = new[] { Zeros("separate.weight.grad", DType.F32, width), Zeros("shared.weight.grad", DType.F32, width) };
        var biasGrads = new[] { Zeros("separate.bias.grad", DType.F32, width), Zeros("shared.bias.grad", DType.F32, width) };
        var outputGrad = F32("norm_out.grad", r, rows, width);

        if (rms)
        {
            Backend.RmsNormBackward(x, weight, RmsNormEps, outputGrad, separate, weightGrads[0]);
            Backend.RmsNormBackward(x, weight, RmsNormEps, shared, shared, weightGrads[1]);
        }
        else
        {
            Backend.LayerNormBackward(x, weight, LayerNormEps, outputGrad, separate, weightGrads[0], biasGrads[0]);
            Backend.LayerNormBackward(x, weight, LayerNormEps, shared, shared, weightGrads[1], biasGrads[1]);
        }

        AssertSameBits(ReadF32(separate), ReadF32(shared), "inputGrad");
        AssertSameBits(ReadF32(weightGrads[0]), ReadF32(weightGrads[1]), "weightGrad");
        AssertSameBits(ReadF32(biasGrads[0]), ReadF32(biasGrads[1]), "biasGrad");
    }

    [Test]
    public void NormBackwardsRejectBadTensorsByName()
    {
        var x = F32("hidden", new float[2 * 8], 2, 8);
        var weight = Weight("ln.weight", DType.F32, new float[8], 8);
        var outputGrad = F32("ln_out.grad", new float[2 * 8], 2, 8);
        var inputGrad = Zeros("hidden.grad", DType.F32, 2, 8);
        var weightGrad = Zeros("ln.weight.grad", DType.F32, 8);
        AssertNamesTensor(() => BackwardContracts.LayerNorm(Backend, x, Weight("short.weight", DType.F32, new float[7], 7), outputGrad, inputGrad, weightGrad, null), "short.weight");
        AssertNamesTensor(() => BackwardContracts.LayerNorm(Backend, x, weight, Zeros("wide_out.grad", DType.F32, 2, 9), inputGrad, weightGrad, null), "wide_out.grad");
        AssertNamesTensor(() => BackwardContracts.LayerNorm(Backend, x, weight, outputGrad, Zeros("half_in.grad", DType.F16, 2, 8), weightGrad, null), "half_in.grad");
        AssertNamesTensor(() => BackwardContracts.LayerNorm(Backend, x, weight, outputGrad, inputGrad, Zeros("bf16.weight.grad", DType.BF16, 8), null), "bf16.weight.grad");
        AssertNamesTensor(() => BackwardContracts.LayerNorm(Backend, x, weight, outputGrad, inputGrad, weightGrad, Zeros("long.bias.grad", DType.F32, 9)), "long.bias.grad");
        AssertNamesTensor(() => BackwardContracts.RmsNorm(Backend, x, weight, outputGrad, inputGrad, Zeros("short.weight.grad", DType.F32, 4)), "short.weight.grad");
        AssertNamesTensor(() => BackwardContracts.RmsNorm(Backend, Zeros("int_hidden", DType.I32, 2, 8), weight, outputGrad, inputGrad, weightGrad), "int_hidden");
    }

    private static double Dot(float[] r, double[] output)
    {
        double sum = 0;
        for (int i = 0; i < r.Length; i++) sum += r[i] * output[i];
        return sum;
    }

    /// <summary>Two-pass LayerNorm in double.</summary>
    private static double[] LayerNormForward(double[] x, double[] weight, double[] bias, double eps, int rows, int width)
    {
        var output = new double[x.Length];
        for (int row = 0; row < rows; row++)
        {
            double mean = 0, variance = 0;
            for (int c = 0; c < width; c++) mean += x[row * width + c];
            mean /= width;
            for (int c = 0; c < width; c++) variance += (x[row * width + c] - mean) * (x[row * width + c] - mean);
            double rstd = 1.0 / Math.Sqrt(variance / width + eps);
            for (int c = 0; c < width; c++) output[row * width + c] = (x[row * width + c] - mean) * rstd * weight[c] + bias[c];
        }
        return output;
    }

    private static double[] RmsNormForward(double[] x, double[] weight, double eps, int rows, int width)
    {
        var output = new double[x.Length];
        for (int row = 0; row < rows; row++)
        {
            double sumSquares = 0;
            for (int c = 0; c < width; c++) sumSquares += x[row * width + c] * x[row * width + c];
            double rstd = 1.0 / Math.Sqrt(sumSquares / width + eps);
            for (int c = 0; c < width; c++) output[row * width + c] = x[row * width + c] * rstd * weight[c];
        }
        return output;
    }

    /// <summary>
    /// The size of the terms of an input gradient, rstd·|r·w|, with RMSNorm's rstd (1/RMS of the row). It matters for
    /// RMSNorm's one-feature rows; LayerNorm's rstd is larger (the centred variance is smaller), but its gradient has no
    /// such cancellation, so max|expected| sizes its tolerance anyway.
    /// </summary>
    private static double NormTermScale(float[] x, float[] r, float[] weight, int rows, int width)
    {
        double scale = 0;
        for (int row = 0; row < rows; row++)
        {
            double sumSquares = 0, largest = 0;
            for (int c = 0; c < width; c++)
            {
                sumSquares += (double)x[row * width + c] * x[row * width + c];
                largest = Math.Max(largest, Math.Abs((double)r[row * width + c] * weight[c]));
            }
            scale = Math.Max(scale, largest / Math.Sqrt(sumSquares / width + RmsNormEps));
        }
        return scale;
    }
}
