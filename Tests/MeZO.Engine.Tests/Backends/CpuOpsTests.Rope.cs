using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends;

/// <summary>Rotary embedding in the Hugging Face rotate_half layout, full and partial (R &lt; D).</summary>
public sealed partial class CpuOpsTests
{
    [TestCase(1, 1, 1, 2, 2)]      // one pair, one head
    [TestCase(2, 3, 3, 8, 8)]      // full rotation, 3 heads
    [TestCase(2, 17, 2, 16, 16)]
    [TestCase(1, 129, 1, 64, 64)]  // long sequence: angles up to ~130 radians
    [TestCase(2, 3, 2, 10, 4)]     // partial rotary: 4 of 10 features rotate
    [TestCase(1, 17, 4, 12, 6)]    // partial, R/2 odd
    public void RopeRotatesPairsByPositionTimesFrequency(int batch, int length, int heads, int headDim, int rotary)
    {
        var rng = new Random(length * 13 + headDim);
        float[] x = Normal(rng, batch * length * heads * headDim);
        int half = rotary / 2;
        // The Hugging Face default frequencies 1/θ^(2i/R), rounded to float32 as transformers stores them.
        float[] inv = Enumerable.Range(0, half).Select(i => (float)(1.0 / Math.Pow(10000.0, 2.0 * i / rotary))).ToArray();
        int[] positions = new int[batch * length];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
                positions[b * length + t] = b == 1 ? Math.Max(1, t - 1) : t; // row 1 is left-padded: 1, 1, 1, 2, ...
        var tensor = F32("q", x, batch, length, heads, headDim);

        Backend.Rope(tensor, I32("positions", positions, batch, length), F32("inv_freq", inv, half));

        double[] expected = new double[x.Length];
        double[] tolerance = new double[x.Length];
        for (int r = 0; r < batch * length; r++)
            for (int h = 0; h < heads; h++)
            {
                int o = (r * heads + h) * headDim;
                for (int i = 0; i < headDim; i++) expected[o + i] = x[o + i]; // features past R pass through untouched
                for (int i = 0; i < half; i++)
                {
                    double angle = (double)positions[r] * inv[i];
                    double a = x[o + i], b = x[o + i + half];
                    expected[o + i] = a * Math.Cos(angle) - b * Math.Sin(angle);
                    expected[o + i + half] = b * Math.Cos(angle) + a * Math.Sin(angle);
                    // transformers (and the engine) round the angle to float32 first: off by ≤ |angle|·2⁻²⁴, which moves
                    // the rotated pair by that much times its length; cos, sin and the products add a few ulp more.
                    double bound = (Math.Abs(angle) * Ulp32 + 4 * Ulp32) * (Math.Abs(a) + Math.Abs(b));
                    tolerance[o + i] = tolerance[o + i + half] = bound;
                }
            }
        AssertClose(ReadF32(tensor), expected, i => tolerance[i], "Rope");
    }

    [Test]
    public void RopeRejectsMismatchedShapes()
    {
        var x = F32("q", new float[2 * 3 * 2 * 4], 2, 3, 2, 4);
        var positions = I32("positions", new int[6], 2, 3);
        AssertNamesTensor(() => Backend.Rope(F32("flat_q", new float[24], 6, 4), positions, F32("inv_freq", new float[2], 2)), "flat_q");
        AssertNamesTensor(() => Backend.Rope(x, I32("short_positions", new int[5], 5), F32("inv_freq", new float[2], 2)), "short_positions");
        AssertNamesTensor(() => Backend.Rope(x, positions, F32("long_inv_freq", new float[3], 3)), "long_inv_freq");
        AssertNamesTensor(() => Backend.Rope(x, Zeros("float_positions", DType.F32, 2, 3), F32("inv_freq", new float[2], 2)), "float_positions");
    }
}
