using MeZO.Engine.Backends;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Engine.Tests.Backends.Optimizer;

/// <summary>
/// The CPU's <see cref="IOptimizerOps"/> against the algorithms as PyTorch documents them (torch.optim.AdamW and SGD),
/// computed here in double: a few steps on lengths that exercise the vector loop and its scalar tail.
/// </summary>
[TestFixture]
public sealed class OptimizerOpsTests : CpuTensorTests
{
    private const int Length = 16 * 3 + 7;

    [Test]
    public void AdamWFollowsPyTorchsAlgorithm([Values(0.0, 0.1)] double weightDecay)
    {
        var rng = new Random(3);
        float[] theta0 = Normal(rng, Length);
        var parameter = F32("theta", (float[])theta0.Clone(), Length);
        var m = Zeros("m", DType.F32, Length);
        var v = Zeros("v", DType.F32, Length);
        double[] p = theta0.Select(x => (double)x).ToArray(), em = new double[Length], ev = new double[Length], emSize = new double[Length];
        const double lr = 1e-2, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
        double moved = 0;
        for (int t = 1; t <= 5; t++)
        {
            float[] g = Normal(rng, Length, scale: t == 3 ? 1e-6 : 1.0);
            g[5] = 0f; // a weight that sees no gradient still decays
            var grad = F32($"grad{t}", g, Length);
            Backend.AdamWUpdate(parameter, null, grad, m, v, AdamWFactors.For(lr, beta1, beta2, eps, weightDecay, t));
            for (int i = 0; i < Length; i++)
            {
                p[i] *= 1 - lr * weightDecay;
                em[i] = beta1 * em[i] + (1 - beta1) * g[i];
                emSize[i] = beta1 * emSize[i] + (1 - beta1) * Math.Abs(g[i]);
                ev[i] = beta2 * ev[i] + (1 - beta2) * g[i] * g[i];
                double mHat = em[i] / (1 - Math.Pow(beta1, t)), vHat = ev[i] / (1 - Math.Pow(beta2, t));
                p[i] -= lr * mHat / (Math.Sqrt(vHat) + eps);
            }
            moved += lr;
        }
        // Each step rounds θ (≈ 1) and a step of at most lr·(1 + ε terms): a few float32 ulps of |θ| plus of the
        // steps taken, with margin for the moments' roundings.
        AssertClose(ReadF32(parameter), p, i => 8 * Ulp32 * (Math.Abs(p[i]) + moved), "AdamW θ after 5 steps");
        // The first moment sums terms of both signs: its rounding is relative to the sum of their sizes.
        AssertClose(ReadF32(m), em, i => 8 * Ulp32 * emSize[i], "first moment");
        AssertClose(ReadF32(v), ev, i => 8 * Ulp32 * Math.Abs(ev[i]) + 1e-15, "second moment");
    }

    [Test]
    public void SgdFollowsPyTorchsAlgorithm([Values(0.0, 0.01)] double weightDecay)
    {
        var rng = new Random(5);
        float[] theta0 = Normal(rng, Length);
        var parameter = F32("theta", (float[])theta0.Clone(), Length);
        double[] p = theta0.Select(x => (double)x).ToArray();
        const double lr = 0.05;
        for (int t = 0; t < 3; t++)
        {
            float[] g = Normal(rng, Length);
            Backend.SgdUpdate(parameter, null, F32($"grad{t}", g, Length), (float)lr, (float)weightDecay);
            for (int i = 0; i < Length; i++) p[i] -= lr * (g[i] + weightDecay * p[i]);
        }
        AssertClose(ReadF32(parameter), p, i => 8 * Ulp32 * (Math.Abs(p[i]) + 3 * lr * 4), "SGD θ after 3 steps");
    }

    /// <summary>
    /// The vector loop and the scalar tail must round alike: the same values one element further along (so each moves
    /// between the two paths) give the same bits.
    /// </summary>
    [Test]
    public void AnElementsStepDoesNotDependOnWhereItSits()
    {
        var rng = new Random(7);
        float[] theta = Normal(rng, Length), g = Normal(rng, Length), m0 = Normal(rng, Length, 0.1), v0 = Normal(rng, Length, 0.1).Select(Math.Abs).ToArray();
        float[] Shifted(float[] x) => [0.5f, .. x];
        var f = AdamWFactors.For(3e-3, 0.9, 0.95, 1e-6, 0.05, 7);

        var a = F32("a", (float[])theta.Clone(), Length);
        Backend.AdamWUpdate(a, null, F32("ga", g, Length), F32("ma", m0, Length), F32("va", v0, Length), f);
        var b = F32("b", Shifted(theta), Length + 1);
        Backend.AdamWUpdate(b, null, F32("gb", Shifted(g), Length + 1), F32("mb", Shifted(m0), Length + 1), F32("vb", Shifted(v0), Length + 1), f);

        Assert.That(ReadF32(b)[1..], Is.EqualTo(ReadF32(a)));
    }

    /// <summary>
    /// A 16-bit weight trains through its float32 master: the master takes exactly the float32 weight's steps, and the
    /// stored weight is the master rounded to nearest even (ReferenceRounding, independent of the engine's converter).
    /// </summary>
    [Test]
    public void SixteenBitWeightsStepTheirMasterAndHoldItRounded([Values(DType.F16, DType.BF16)] DType type, [Values] bool adam)
    {
        var rng = new Random(11);
        float[] theta0 = Normal(rng, Length);
        for (int i = 0; i < Length; i++) theta0[i] = ReferenceRounding.Round(type, theta0[i]);
        var reference = F32("reference", (float[])theta0.Clone(), Length);
        var master = F32("master", (float[])theta0.Clone(), Length);
        var weight = Weight("weight", type, (float[])theta0.Clone(), Length);
        Tensor mr = Zeros("mr", DType.F32, Length), vr = Zeros("vr", DType.F32, Length), mw = Zeros("mw", DType.F32, Length), vw = Zeros("vw", DType.F32, Length);
        for (int t = 1; t <= 3; t++)
        {
            var grad = F32($"grad{t}", Normal(rng, Length), Length);
            if (adam)
            {
                var f = AdamWFactors.For(1e-3, 0.9, 0.999, 1e-8, 0.01, t);
                Backend.AdamWUpdate(reference, null, grad, mr, vr, f);
                Backend.AdamWUpdate(weight, master, grad, mw, vw, f);
            }
            else
            {
                Backend.SgdUpdate(reference, null, grad, 1e-3f, 0f);
                Backend.SgdUpdate(weight, master, grad, 1e-3f, 0f);
            }
        }
        float[] expected = ReadF32(reference);
        Assert.That(ReadF32(master), Is.EqualTo(expected), "the master is the float32 run");
        float[] stored = HostValues.Read(weight);
        Assert.That(stored, Is.EqualTo(expected.Select(x => ReferenceRounding.Round(type, x)).ToArray()), "the weight is the master rounded");
        Assert.That(stored, Is.Not.EqualTo(theta0), "the steps moved the 16-bit weight");
    }

    [Test]
    public void AMasterCopyHoldsTheSixteenBitValuesExactly([Values(DType.F16, DType.BF16)] DType type)
    {
        float[] values = Normal(new Random(17), Length, scale: 3);
        var weight = Weight("weight", type, values, Length); // values rounded in place to what the weight holds
        var master = Zeros("master", DType.F32, Length);
        Backend.WidenToMaster(weight, master);
        Assert.That(ReadF32(master), Is.EqualTo(values));
        AssertNamesTensor(() => Backend.WidenToMaster(F32("single", new float[Length], Length), master), "single");
    }

    [Test]
    public void SumOfSquaresIsTheNormSquaredAndSeesANaN()
    {
        var rng = new Random(13);
        float[] x = Normal(rng, 70_000);
        var t = F32("grad", x, x.Length);
        double expected = x.Sum(v => (double)v * v);
        Assert.That(Backend.SumOfSquares(t), Is.EqualTo(expected).Within(1e-6 * expected));
        Backend.Scale(t, 0.5f);
        Assert.That(Backend.SumOfSquares(t), Is.EqualTo(expected / 4).Within(1e-6 * expected));
        x[69_999] = float.NaN;
        Assert.That(Backend.SumOfSquares(F32("bad", x, x.Length)), Is.NaN);
    }

    [Test]
    public void UpdatesRefuseAMissingOrUnwantedMasterAndMisfitState()
    {
        var grad = F32("grad", new float[8], 8);
        var half = Weight("half_weight", DType.BF16, new float[8], 8);
        AssertNamesTensor(() => Backend.SgdUpdate(half, null, grad, 0.1f, 0f), "half_weight");
        var single = F32("single_weight", new float[8], 8);
        AssertNamesTensor(() => Backend.SgdUpdate(single, F32("spare_master", new float[8], 8), grad, 0.1f, 0f), "spare_master");
        var shortMoment = F32("short_m", new float[4], 4);
        AssertNamesTensor(() => Backend.AdamWUpdate(single, null, grad, shortMoment, F32("v", new float[8], 8), AdamWFactors.For(0.1, 0.9, 0.999, 1e-8, 0, 1)),
            "short_m");
    }
}
