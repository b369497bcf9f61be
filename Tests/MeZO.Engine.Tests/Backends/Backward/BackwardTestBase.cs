using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Backward;

/// <summary>
/// What every backward-op test shares. Each op is checked against central finite differences of a scalar loss
/// L = Σ r·output (r random, so r is the output's gradient) computed in DOUBLE on a naive forward written in the test:
/// the reference owes nothing to the op's own algebra. Inputs are float32 (weights rounded to their storage dtype first)
/// and the double forward reads exactly those values.
/// </summary>
public abstract class BackwardTestBase : CpuTensorTests
{
    /// <summary>Row counts and widths that break vector widths (1, 7, 17) or cross several 16-lane vectors with a tail (129).</summary>
    protected static readonly int[] AwkwardRows = [1, 3, 17];
    protected static readonly int[] AwkwardWidths = [1, 7, 129];

    /// <summary>
    /// Central-difference step, relative to max(1, |θ|). The truncation error is h²·|L‴|/6 ≈ 1e-10 for the O(1)
    /// derivatives here; the double rounding error is 2⁻⁵³·|L|/h ≈ 1e-11·|L|. Both are far below float32's error.
    /// </summary>
    private const double Step = 1e-5;

    /// <summary>An absolute floor covering the finite difference's own error (see <see cref="Step"/>), for gradients that are exactly 0.</summary>
    private const double FiniteDifferenceFloor = 1e-7;

    /// <summary>
    /// Headroom over the one-chain bound below: vectorised sums split a chain into lanes, and a few element-wise
    /// roundings (products, exp, tanh of a few ulps each) come on top.
    /// </summary>
    private const double Slack = 4;

    protected static double[] ToDouble(float[] values) => Array.ConvertAll(values, v => (double)v);

    /// <summary>
    /// dL/dθ by central differences: each element of <paramref name="theta"/> (which <paramref name="loss"/> reads)
    /// moved by ±h in turn, then restored.
    /// </summary>
    protected static double[] FiniteDifferences(double[] theta, Func<double> loss)
    {
        var gradient = new double[theta.Length];
        for (int i = 0; i < theta.Length; i++)
        {
            double saved = theta[i], h = Step * Math.Max(1, Math.Abs(saved));
            double up = saved + h, down = saved - h;
            theta[i] = up;
            double lossUp = loss();
            theta[i] = down;
            double lossDown = loss();
            theta[i] = saved;
            gradient[i] = (lossUp - lossDown) / (up - down);
        }
        return gradient;
    }

    /// <summary>
    /// Asserts the float32 gradient matches the double finite differences. A float32 sum of n terms is off by at most
    /// n·2⁻²⁴·Σ|terms| (one chain); for these random, O(1) inputs Σ|terms| stays within a few times the largest
    /// gradient, so the tolerance is Slack·(n + 8)·2⁻²⁴·max|expected| (8 for the element-wise roundings around the sum)
    /// plus the finite difference's own error. <paramref name="reductionLength"/> is n: the longest sum behind an element.
    /// Where the terms cancel, so that the gradient is much smaller than they are (RMSNorm of one feature), the caller
    /// passes the terms' size as <paramref name="termScale"/>, which then replaces max|expected|.
    /// </summary>
    protected static void AssertGradient(float[] actual, double[] expected, int reductionLength, string what, double termScale = 0)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), $"{what}: element count");
        double largest = Math.Max(termScale, expected.Length == 0 ? 0 : expected.Max(Math.Abs));
        double tolerance = Slack * (reductionLength + 8) * Ulp32 * largest + FiniteDifferenceFloor * Math.Max(1, largest);
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            if (!(error <= tolerance))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R} (error {error:E3} > tolerance {tolerance:E3})");
        }
    }

    /// <summary>a + b element-wise (expected values of an accumulated gradient).</summary>
    protected static double[] Plus(float[] a, double[] b) => a.Select((v, i) => v + b[i]).ToArray();

    /// <summary>Asserts two runs gave the same bits, naming the first differing element.</summary>
    protected static void AssertSameBits(float[] first, float[] second, string what)
    {
        Assert.That(second, Has.Length.EqualTo(first.Length), $"{what}: element count");
        for (int i = 0; i < first.Length; i++)
            if (BitConverter.SingleToInt32Bits(first[i]) != BitConverter.SingleToInt32Bits(second[i]))
                Assert.Fail($"{what}: element {i} is {second[i]:R} on the second call, {first[i]:R} on the first");
    }
}
