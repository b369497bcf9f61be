using MeZO.Engine.Noise;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Noise;

public class GaussianNoiseTests
{
    private const ulong Seed = 0x9E37_79B9_7F4A_7C15ul;

    /// <summary>DESIGN §3 steps 3–4 with the C library's ln, cos and sin in double, rounded once to float32.</summary>
    private static float BoxMullerByHand(uint radiusWord, uint angleWord, bool sine)
    {
        double u0 = (radiusWord >> 8) * Math.Pow(2, -24) + Math.Pow(2, -25);
        double u1 = (angleWord >> 8) * Math.Pow(2, -24) + Math.Pow(2, -25);
        double r = Math.Sqrt(-2 * Math.Log(u0));
        return (float)(sine ? r * Math.Sin(2 * Math.PI * u1) : r * Math.Cos(2 * Math.PI * u1));
    }

    /// <summary>The same chain for any index, its Philox words from the generator (checked against Random123 apart).</summary>
    private static float ByHand(ulong seed, ulong index)
    {
        ulong block = index >> 2;
        var x = Philox4x32.Generate((uint)block, (uint)(block >> 32), 0, 0, (uint)seed, (uint)(seed >> 32));
        int lane = (int)(index & 3);
        return lane < 2 ? BoxMullerByHand(x.X0, x.X1, lane == 1) : BoxMullerByHand(x.X2, x.X3, lane == 3);
    }

    /// <summary>Distance in float32 steps (ulps) between two finite floats of the same sign.</summary>
    private static long UlpDistance(float a, float b) =>
        Math.Abs((long)BitConverter.SingleToInt32Bits(a) - BitConverter.SingleToInt32Bits(b));

    [Test]
    public void ScalarZOfSeedZeroIsTheKnownAnswerBlockThroughBoxMuller()
    {
        // Seed 0, indices 0..3 are Philox block 0 under key (0, 0): the Random123 known answer
        // 6627e8d5 e169c58d bc57ac4c 9b00dbd8 (DESIGN §3). Lanes 0, 1 are r·cos, r·sin of the pair (x0, x1); lanes 2, 3
        // of (x2, x3).
        float[] expected =
        [
            BoxMullerByHand(0x6627e8d5u, 0xe169c58du, sine: false),
            BoxMullerByHand(0x6627e8d5u, 0xe169c58du, sine: true),
            BoxMullerByHand(0xbc57ac4cu, 0x9b00dbd8u, sine: false),
            BoxMullerByHand(0xbc57ac4cu, 0x9b00dbd8u, sine: true),
        ];

        // The engine computes ln and sincos itself, to about one double ulp, and the C library does too; their
        // float32 roundings can then differ only where the exact value lies within ~1e-16 of a rounding boundary,
        // and by one float ulp at most.
        for (ulong i = 0; i < 4; i++)
            Assert.That(UlpDistance(GaussianNoise.Z(0, i), expected[i]), Is.LessThanOrEqualTo(1), $"z_{i}");
    }

    [Test]
    public void ScalarZIsTheDoubleChainRoundedOnceAlmostEverywhere()
    {
        // One rounding of an accurate double (see above) disagrees with another only near a float boundary: with
        // double errors of a few 1e-16 against float32 steps of 6e-8 relative, about 1 in 10⁷ values. A float32
        // computation of steps 3–4 would disagree in a large fraction; 10 in 10⁵ is a generous ceiling.
        const int count = 100_000;
        int differing = 0;
        for (ulong i = 0; i < count; i++)
        {
            ulong index = 77_777 + 4099 * i;
            float z = GaussianNoise.Z(Seed, index), expected = ByHand(Seed, index);
            Assert.That(UlpDistance(z, expected), Is.LessThanOrEqualTo(1), $"z_{index}");
            if (z != expected) differing++;
        }
        Assert.That(differing, Is.LessThanOrEqualTo(10));
    }

    private static IEnumerable<TestCaseData> Ranges()
    {
        foreach (var (first, length) in new (ulong, int)[]
        {
            (0, 1), (1, 1), (3, 1), (1, 3), (2, 5), (0, 4), (5, 17), (0, 32), (3, 31), (6, 33), (1, 64), (7, 1000),
            (13, 1_000_003),
            ((1ul << 34) + 1, 101),           // a block index above 2³², so the counter's second word is set
            (ulong.MaxValue - 40, 41),        // the last indices there are
        })
            yield return new TestCaseData(first, length).SetArgDisplayNames($"first={first}", $"length={length}");
    }

    [TestCaseSource(nameof(Ranges))]
    public void FillIsBitIdenticalToScalarZ(ulong firstIndex, int length)
    {
        var filled = new float[length];

        GaussianNoise.Fill(Seed, firstIndex, filled);

        AssertEqualsScalarZ(firstIndex, filled);
    }

    [TestCaseSource(nameof(Ranges))]
    public void ScalarFillIsBitIdenticalToScalarZ(ulong firstIndex, int length)
    {
        var filled = new float[length];

        GaussianNoise.FillScalar(Seed, firstIndex, filled);

        AssertEqualsScalarZ(firstIndex, filled);
    }

    [TestCaseSource(nameof(Ranges))]
    public void Avx512FillIsBitIdenticalToScalarZ(ulong firstIndex, int length)
    {
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported) Assert.Ignore("this processor has no AVX-512F");
        var filled = new float[length];

        GaussianNoise.FillVector512(Seed, firstIndex, filled);

        AssertEqualsScalarZ(firstIndex, filled);
    }

    private static void AssertEqualsScalarZ(ulong firstIndex, float[] filled)
    {
        for (int j = 0; j < filled.Length; j++)
        {
            float z = GaussianNoise.Z(Seed, firstIndex + (ulong)j);
            if (BitConverter.SingleToInt32Bits(filled[j]) != BitConverter.SingleToInt32Bits(z))
                Assert.Fail($"z at index {firstIndex + (ulong)j} (element {j}): Fill gave {filled[j]:R}, Z gave {z:R}");
        }
    }

    [Test]
    public void FillLeavesTheRestOfTheBufferAlone()
    {
        var buffer = new float[40];
        Array.Fill(buffer, float.NaN);

        GaussianNoise.Fill(Seed, 3, buffer.AsSpan(1, 37));

        Assert.That(float.IsNaN(buffer[0]) && float.IsNaN(buffer[38]) && float.IsNaN(buffer[39]), Is.True);
        Assert.That(buffer.AsSpan(1, 37).ToArray(), Has.None.NaN);
    }

    // Sample statistics of n = 2²⁰ values. Each bound is 5 standard errors of the statistic for independent N(0, 1)
    // samples, so a correct generator fails one of them with probability below 1e-5:
    //   mean: SE 1/√n;  variance: SE √(2/n);  fourth moment (3 for a normal): SE √(96/n);
    //   P(|z| > 1.96) = 0.05: SE √(0.05·0.95/n);  a correlation between independent sequences: SE 1/√n.
    private const int SampleCount = 1 << 20;
    private static double FiveSe(double perSampleVariance) => 5 * Math.Sqrt(perSampleVariance / SampleCount);

    private static float[] Sample(ulong seed, ulong firstIndex)
    {
        var z = new float[SampleCount];
        GaussianNoise.Fill(seed, firstIndex, z);
        return z;
    }

    [Test]
    public void MomentsAreThoseOfAStandardNormal()
    {
        float[] z = Sample(Seed, 12_345);
        double mean = z.Average(v => (double)v);
        double secondMoment = z.Average(v => (double)v * v);
        double fourthMoment = z.Average(v => Math.Pow(v, 4));
        double tail = z.Count(v => Math.Abs(v) > 1.959964) / (double)SampleCount;

        Assert.That(mean, Is.EqualTo(0).Within(FiveSe(1)), "mean");
        Assert.That(secondMoment, Is.EqualTo(1).Within(FiveSe(2)), "variance");
        Assert.That(fourthMoment, Is.EqualTo(3).Within(FiveSe(96)), "fourth moment");
        Assert.That(tail, Is.EqualTo(0.05).Within(FiveSe(0.05 * 0.95)), "P(|z| > 1.96)");
    }

    [Test]
    public void NeighbouringElementsAreUncorrelated()
    {
        // Lags 1..4 cover the pairs that share a radius (lag 1 inside a pair), the two pairs of one block (lag 2)
        // and neighbouring blocks (lag 4).
        float[] z = Sample(Seed, 7);
        for (int lag = 1; lag <= 4; lag++)
            Assert.That(Correlation(z.AsSpan(0, SampleCount - lag), z.AsSpan(lag)), Is.EqualTo(0).Within(FiveSe(1)), $"lag {lag}");
    }

    [Test]
    public void SeedsThatDifferInOneBitGiveUncorrelatedNoise()
    {
        float[] a = Sample(Seed, 0);
        float[] b = Sample(Seed ^ 1, 0);
        float[] c = Sample(Seed ^ (1ul << 63), 0);

        Assert.That(Correlation(a, b), Is.EqualTo(0).Within(FiveSe(1)), "low key word");
        Assert.That(Correlation(a, c), Is.EqualTo(0).Within(FiveSe(1)), "high key word");
    }

    private static double Correlation(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            sx += x[i];
            sy += y[i];
            sxx += (double)x[i] * x[i];
            syy += (double)y[i] * y[i];
            sxy += (double)x[i] * y[i];
        }
        int n = x.Length;
        double cov = sxy / n - sx / n * (sy / n);
        return cov / Math.Sqrt((sxx / n - sx / n * (sx / n)) * (syy / n - sy / n * (sy / n)));
    }
}
