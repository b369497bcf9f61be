using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MeZO.Engine.Noise;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Noise;

/// <summary>
/// The engine's own ln and sincos (BoxMuller) against the C library, and the AVX-512 twins against the scalar code
/// bit for bit in double — a test on the float32 z alone would miss a one-ulp difference in double almost always.
/// </summary>
public class BoxMullerTests
{
    private static double UlpsApart(double value, double reference) =>
        Math.Abs(value - reference) / (Math.BitIncrement(Math.Abs(reference)) - Math.Abs(reference));

    // Tolerance of the two accuracy tests: the C library is within half an ulp; the engine's evaluation (an exact
    // reduction, one rounded division or product, a polynomial whose correction terms are a few percent of the
    // leading term, one final addition) stays within about one and a half. Measured: at most 1 ulp over every input.
    private const double UlpTolerance = 2;

    [Test]
    public void LogIsWithinTwoUlpsOfTheCLibraryForEveryUniform()
    {
        double worst = 0;
        for (uint k = 0; k < 1u << 24; k++)
        {
            double u = BoxMuller.Uniform(k << 8);
            worst = Math.Max(worst, UlpsApart(BoxMuller.Log(u), Math.Log(u)));
        }
        Assert.That(worst, Is.LessThanOrEqualTo(UlpTolerance));
    }

    [Test]
    public void SineAndCosineOfTheReducedAngleAreWithinTwoUlpsOfTheCLibrary()
    {
        // Words of octant 0 (top three bits zero) give θ = (2j + 1)·π/4·2⁻²² itself, with no reflection or sign.
        double worstSin = 0, worstCos = 0;
        for (uint j = 0; j < 1u << 21; j++)
        {
            var (sin, cos) = BoxMuller.SinCosTwoPi(j << 8);
            double theta = (2 * j + 1) * BoxMuller.QuarterPiGridStep;
            worstSin = Math.Max(worstSin, UlpsApart(sin, Math.Sin(theta)));
            worstCos = Math.Max(worstCos, UlpsApart(cos, Math.Cos(theta)));
        }
        Assert.That(worstSin, Is.LessThanOrEqualTo(UlpTolerance), "sin");
        Assert.That(worstCos, Is.LessThanOrEqualTo(UlpTolerance), "cos");
    }

    [Test]
    public void EveryOctantGivesTheSineAndCosineOfTwoPiU()
    {
        // Reference sin(2πu) from the C library: rounding the argument 2πu < 2π costs up to 2π·2⁻⁵³ ≈ 7e-16 in the
        // result, plus half an ulp (≤ 1.1e-16) for each side: 1e-15 absolute.
        const double tolerance = 1e-15;
        foreach (uint x in Words())
        {
            double u = BoxMuller.Uniform(x);
            var (sin, cos) = BoxMuller.SinCosTwoPi(x);
            Assert.That(sin, Is.EqualTo(Math.Sin(2 * Math.PI * u)).Within(tolerance), $"sin, word {x:x8}");
            Assert.That(cos, Is.EqualTo(Math.Cos(2 * Math.PI * u)).Within(tolerance), $"cos, word {x:x8}");
        }
    }

    [Test]
    public void Avx512TransformEqualsTheScalarOneInDouble()
    {
        if (!Avx512F.IsSupported) Assert.Ignore("this processor has no AVX-512F");
        uint[] words = Words().ToArray();
        var rng = new System.Random(11);
        for (int start = 0; start + 16 <= words.Length; start += 16)
        {
            // Pair each word with a random partner so every word serves as radius word and as angle word.
            ulong[] a = new ulong[8], b = new ulong[8];
            for (int lane = 0; lane < 8; lane++)
            {
                a[lane] = words[start + lane];
                b[lane] = words[start + 8 + lane];
                if (rng.Next(2) == 0) (a[lane], b[lane]) = (b[lane], a[lane]);
            }
            var (z0, z1) = BoxMullerVector512.Transform(Vector512.Create(a), Vector512.Create(b));
            for (int lane = 0; lane < 8; lane++)
            {
                var (e0, e1) = BoxMuller.TransformInDouble((uint)a[lane], (uint)b[lane]);
                if (BitConverter.DoubleToInt64Bits(z0[lane]) != BitConverter.DoubleToInt64Bits(e0) ||
                    BitConverter.DoubleToInt64Bits(z1[lane]) != BitConverter.DoubleToInt64Bits(e1))
                    Assert.Fail($"words ({a[lane]:x8}, {b[lane]:x8}): AVX-512 ({z0[lane]:R}, {z1[lane]:R}), scalar ({e0:R}, {e1:R})");
            }
        }
    }

    [Test]
    public void Avx512LogAndSinCosEqualTheScalarOnesForEveryWord()
    {
        // Both depend on a word only through its top 24 bits, so 2²⁴ words cover every input there is. A changed
        // operation order (an fma split in two, say) moves the last bit of a few percent of them.
        if (!Avx512F.IsSupported) Assert.Ignore("this processor has no AVX-512F");
        for (ulong k = 0; k < 1ul << 24; k += 8)
        {
            var words = (Vector512.Create(k) + Vector512<ulong>.Indices) << 8;
            var u = BoxMullerVector512.Uniform(words);
            var log = BoxMullerVector512.Log(u);
            var (sin, cos) = BoxMullerVector512.SinCosTwoPi(words);
            for (int lane = 0; lane < 8; lane++)
            {
                uint word = (uint)words[lane];
                double expectedU = BoxMuller.Uniform(word);
                var (expectedSin, expectedCos) = BoxMuller.SinCosTwoPi(word);
                if (u[lane] != expectedU || !SameBits(log[lane], BoxMuller.Log(expectedU)) ||
                    !SameBits(sin[lane], expectedSin) || !SameBits(cos[lane], expectedCos))
                    Assert.Fail($"word {word:x8}: AVX-512 u {u[lane]:R} ln {log[lane]:R} sin {sin[lane]:R} cos {cos[lane]:R}, " +
                                $"scalar u {expectedU:R} ln {BoxMuller.Log(expectedU):R} sin {expectedSin:R} cos {expectedCos:R}");
            }
        }
    }

    private static bool SameBits(double a, double b) => BitConverter.DoubleToInt64Bits(a) == BitConverter.DoubleToInt64Bits(b);

    [TestCase(0ul)]
    [TestCase(12_345ul)]
    [TestCase(0xFFFF_FFFDul)] // the eight blocks cross 2³², so the second counter word changes inside the batch
    [TestCase((1ul << 62) - 8)]
    public void Avx512PhiloxEqualsTheScalarOne(ulong firstBlock)
    {
        if (!Avx512F.IsSupported) Assert.Ignore("this processor has no AVX-512F");
        const uint k0 = 0xA409_3822u, k1 = 0x299F_31D0u;

        Philox4x32Vector512.Generate(firstBlock, k0, k1, out var x0, out var x1, out var x2, out var x3);

        for (int lane = 0; lane < 8; lane++)
        {
            ulong block = firstBlock + (ulong)lane;
            var expected = Philox4x32.Generate((uint)block, (uint)(block >> 32), 0, 0, k0, k1);
            Assert.That(new[] { x0[lane], x1[lane], x2[lane], x3[lane] },
                Is.EqualTo(new ulong[] { expected.X0, expected.X1, expected.X2, expected.X3 }), $"block {block}");
        }
    }

    /// <summary>
    /// Philox words that reach every branch: the extremes, both sides of each octant boundary and of the √2 split in
    /// ln, then a stride through all 2³² words.
    /// </summary>
    private static IEnumerable<uint> Words()
    {
        yield return 0;
        yield return 0xFFFF_FFFFu;
        for (uint octant = 1; octant < 8; octant++)
        {
            yield return (octant << 29) - 0x100;
            yield return octant << 29;
        }
        // u = 1/√2 ≈ 0xB504F3·2⁻²⁴ puts the mantissa of u right at the √2 split.
        for (uint k = 0xB504F0; k <= 0xB504F6; k++) yield return k << 8;
        for (ulong x = 0x55; x <= uint.MaxValue; x += 4099 * 256 + 17) yield return (uint)x;
    }
}
