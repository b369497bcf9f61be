using NUnit.Framework;

namespace MeZO.Trainer.Tests.Support;

/// <summary>The tests' own Philox must itself be right before the optimizer is judged against it.</summary>
public class ReferenceNoiseTests
{
    [Test]
    public void PhiloxGivesTheKnownAnswersOfDesignAndRandom123()
    {
        // DESIGN §3's known answer; then Random123's kat_vectors for philox4x32_10 (all ones; the digits of π).
        Assert.That(ReferenceNoise.Philox(0, 0, 0, 0, 0, 0), Is.EqualTo(new uint[] { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 }));
        Assert.That(ReferenceNoise.Philox(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff),
            Is.EqualTo(new uint[] { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd }));
        Assert.That(ReferenceNoise.Philox(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0),
            Is.EqualTo(new uint[] { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 }));
    }

    [Test]
    public void ZIsStandardNormal()
    {
        // 2¹⁶ draws: the standard error of the mean is 1/256 ≈ 0.004 and of the variance √(2/n) ≈ 0.0055; 5σ bounds.
        const int n = 1 << 16;
        double sum = 0, squares = 0;
        for (ulong i = 0; i < n; i++)
        {
            double z = ReferenceNoise.Z(0x1234_5678_9ABC_DEF0ul, i);
            sum += z;
            squares += z * z;
        }
        Assert.That(sum / n, Is.EqualTo(0).Within(0.02));
        Assert.That(squares / n, Is.EqualTo(1).Within(0.028));
    }
}
