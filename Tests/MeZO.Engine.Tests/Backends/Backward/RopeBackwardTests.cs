using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cpu.Backward;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using NUnit.Framework;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Engine.Tests.Backends.Backward;

/// <summary>
/// <see cref="CpuRope.Backward"/> against central finite differences of a naive double-precision rotary embedding
/// (rotate_half layout) for the loss L = Σ r·rope(x): full and partial rotary, padded positions, scaled frequencies.
/// </summary>
[TestFixture]
public sealed class RopeBackwardTests : CpuTensorTests
{
    /// <summary>Which inverse frequencies a case uses; the scaled variants differ only in these values.</summary>
    public enum Frequencies { Default, Linear, Llama3 }

    /// <summary>
    /// The finite-difference step: L is linear in x, so the central difference has no truncation error, only double
    /// rounding of ≈ 2⁻⁵³·|L|/h ≈ 1e-13 (L of one head is O(10)); <see cref="DifferenceError"/> bounds it with headroom.
    /// </summary>
    private const double Step = 1e-3;

    private const double DifferenceError = 1e-10;

    [TestCase(1, 1, 1, 8, 8, Frequencies.Default)]      // one row, full rotation
    [TestCase(2, 3, 2, 8, 8, Frequencies.Default)]      // full rotation, row 1 left-padded
    [TestCase(2, 17, 4, 80, 80, Frequencies.Default)]   // head width 80
    [TestCase(2, 3, 2, 10, 4, Frequencies.Default)]     // partial rotary: 4 of 10 features rotate
    [TestCase(1, 17, 3, 12, 6, Frequencies.Default)]    // partial, R/2 odd
    [TestCase(2, 17, 2, 80, 20, Frequencies.Default)]   // partial_rotary_factor 0.25 at width 80
    [TestCase(2, 17, 2, 16, 16, Frequencies.Linear)]    // linear scaling
    [TestCase(2, 17, 2, 64, 64, Frequencies.Llama3)]    // llama3 scaling: low, smoothed and high bands
    public void GradientMatchesFiniteDifferences(int batch, int length, int heads, int headDim, int rotary, Frequencies kind)
    {
        var rng = new Random(length * 13 + headDim + rotary);
        float[] x = Normal(rng, batch * length * heads * headDim);
        float[] r = Normal(rng, x.Length);
        float[] inv = InverseFrequencies(kind, rotary);
        int[] positions = Positions(batch, length, past: 100);
        var grad = F32("q_grad", r, batch, length, heads, headDim);
        var positionTensor = I32("positions", positions, batch, length);
        var invTensor = F32("inv_freq", inv, inv.Length);

        Backend.RopeBackward(grad, positionTensor, invTensor);

        double[] theta = x.Select(v => (double)v).ToArray();
        double[] expected = new double[x.Length], tolerance = new double[x.Length];
        int half = inv.Length;
        for (int i = 0; i < theta.Length; i++)
        {
            double saved = theta[i];
            theta[i] = saved + Step;
            int headStart = i - i % headDim, row = i / (heads * headDim);
            double plus = HeadLoss(theta, r, positions[row], inv, headStart, headDim);
            theta[i] = saved - Step;
            double minus = HeadLoss(theta, r, positions[row], inv, headStart, headDim);
            theta[i] = saved;
            expected[i] = (plus - minus) / (2 * Step);
            // The engine forms r_a·cos + r_b·sin (or its mirror) in float32 from cos and sin rounded to float32: two
            // products, a sum and the two roundings of cos, sin, each ≤ 2⁻²⁴ relative to |r_a| + |r_b|; the double
            // reference uses the same float32 angle, so the angle itself adds nothing. Features past R copy exactly.
            int feature = i % headDim, pair = feature < half ? feature + half : feature < 2 * half ? feature - half : feature;
            int o = i - feature;
            tolerance[i] = feature < 2 * half ? 4 * Ulp32 * (Math.Abs(r[o + feature]) + Math.Abs(r[o + pair])) : 0;
        }
        AssertClose(ReadF32(grad), expected, tolerance, "RopeBackward");
    }

    [TestCase(2, 17, 4, 80, 80, Frequencies.Default)]
    [TestCase(2, 3, 2, 10, 4, Frequencies.Linear)]
    [TestCase(2, 17, 2, 64, 64, Frequencies.Llama3)]
    public void BackwardUndoesTheForwardRotation(int batch, int length, int heads, int headDim, int rotary, Frequencies kind)
    {
        var rng = new Random(length + headDim);
        float[] x = Normal(rng, batch * length * heads * headDim);
        float[] inv = InverseFrequencies(kind, rotary);
        var tensor = F32("q", x, batch, length, heads, headDim);
        var positions = I32("positions", Positions(batch, length, past: 1000), batch, length);
        var invTensor = F32("inv_freq", inv, inv.Length);

        Backend.Rope(tensor, positions, invTensor);
        Assert.That(ReadF32(tensor), Is.Not.EqualTo(x).AsCollection, "the forward rotates");
        Backend.RopeBackward(tensor, positions, invTensor);

        // Each pass rounds each output by ≤ 4·2⁻²⁴ of the pair's length (see above), and cos² + sin² of the
        // float32-rounded cos and sin is 1 within 2·2⁻²⁴: 12 ulp of |a| + |b| covers both passes.
        float[] actual = ReadF32(tensor);
        int half = inv.Length;
        for (int i = 0; i < x.Length; i++)
        {
            int feature = i % headDim, o = i - feature;
            int pair = feature < half ? feature + half : feature < 2 * half ? feature - half : feature;
            double tolerance = feature < 2 * half ? 12 * Ulp32 * (Math.Abs(x[o + feature]) + Math.Abs(x[o + pair])) : 0;
            if (!(Math.Abs(actual[i] - x[i]) <= tolerance))
                Assert.Fail($"element {i} is {actual[i]:R} after the round trip, was {x[i]:R} (tolerance {tolerance:E3})");
        }
    }

    [Test]
    public void ContractRejectsMismatchedShapes()
    {
        var grad = F32("q_grad", new float[2 * 3 * 2 * 4], 2, 3, 2, 4);
        var positions = I32("positions", new int[6], 2, 3);
        var inv = F32("inv_freq", new float[2], 2);
        Assert.DoesNotThrow(() => BackwardContracts.Rope(Backend, grad, positions, inv), "matching shapes pass");
        AssertNamesTensor(() => BackwardContracts.Rope(Backend, F32("flat_grad", new float[24], 6, 4), positions, inv), "flat_grad");
        AssertNamesTensor(() => BackwardContracts.Rope(Backend, grad, I32("short_positions", new int[5], 5), inv), "short_positions");
        AssertNamesTensor(() => BackwardContracts.Rope(Backend, grad, positions, F32("long_inv_freq", new float[3], 3)), "long_inv_freq");
    }

    /// <summary>
    /// The terms of L = Σ r·rope(x) of the head vector at <paramref name="o"/> (the only ones an element of it moves), in
    /// double, with the angle rounded to float32 as transformers (and the engine) form it.
    /// </summary>
    private static double HeadLoss(double[] x, float[] r, int position, float[] inv, int o, int headDim)
    {
        int half = inv.Length;
        double loss = 0;
        for (int i = 2 * half; i < headDim; i++) loss += r[o + i] * x[o + i];
        for (int i = 0; i < half; i++)
        {
            double angle = (float)(position * inv[i]);
            double a = x[o + i], b = x[o + i + half];
            loss += r[o + i] * (a * Math.Cos(angle) - b * Math.Sin(angle));
            loss += r[o + i + half] * (b * Math.Cos(angle) + a * Math.Sin(angle));
        }
        return loss;
    }

    /// <summary>Row 0 counts from <paramref name="past"/>; row 1 is left-padded (its padding repeats the first position).</summary>
    private static int[] Positions(int batch, int length, int past)
    {
        int[] positions = new int[batch * length];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
                positions[b * length + t] = past + (b == 1 ? Math.Max(0, t - length / 3) : t);
        return positions;
    }

    /// <summary>The model's frequencies as <see cref="RopeFrequencies"/> computes them, θ = 10000.</summary>
    private static float[] InverseFrequencies(Frequencies kind, int rotary) => (kind switch
    {
        Frequencies.Linear => new RopeFrequencies(10000, "linear", 4, 0, 0, 0),
        Frequencies.Llama3 => new RopeFrequencies(10000, "llama3", 8, 1, 4, 64),
        _ => new RopeFrequencies(10000, "default", 1, 0, 0, 0),
    }).Compute(rotary);

    /// <summary>|actual[i] − expected[i]| ≤ tolerance[i] for every element, naming the first failure.</summary>
    private static void AssertClose(float[] actual, double[] expected, double[] tolerance, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), $"{what}: element count");
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            if (!(error <= tolerance[i] + DifferenceError))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R} (error {error:E3} > tolerance {tolerance[i]:E3})");
        }
    }

}
