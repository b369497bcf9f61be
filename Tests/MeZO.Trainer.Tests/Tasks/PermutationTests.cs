using MeZO.Trainer.Data;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

public class PermutationTests
{
    [Test]
    public void SplitMix64MatchesItsPublishedOutput()
    {
        // The output of Vigna's reference splitmix64.c for seed 1234567, as widely quoted for its ports; re-derived here with
        // an independent Python implementation.
        var random = new SplitMix64(1234567);
        ulong[] expected = [6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821];
        foreach (ulong value in expected)
            Assert.That(random.Next(), Is.EqualTo(value));
    }

    [Test]
    public void KnownPermutations()
    {
        // Computed by an independent Python implementation of the documented algorithm (SplitMix64, Lemire's bounded
        // draw, Fisher–Yates from the top).
        Assert.That(Permutation.Random(10, 42), Is.EqualTo(new[] { 8, 3, 6, 5, 4, 0, 9, 2, 1, 7 }));
        Assert.That(Permutation.Random(10, 0), Is.EqualTo(new[] { 4, 9, 2, 5, 1, 7, 6, 0, 3, 8 }));
        Assert.That(Permutation.Random(1, 5), Is.EqualTo(new[] { 0 }));
        Assert.That(Permutation.Random(0, 5), Is.Empty);
    }

    [Test]
    public void AllOrdersOfThreeAreEquallyLikely()
    {
        // 6000 seeds over the 6 permutations of 3: each expected 1000 times. A shuffle that draws j from all n positions
        // (a common bug) gives the orders probabilities 4/27 or 5/27, about ±110 from 1000: χ² = 55 on these seeds. 20.5 is the 0.1%
        // tail of χ² with 5 degrees of freedom; the correct shuffle gives 2.44 on these seeds.
        var counts = new Dictionary<string, int>();
        for (ulong seed = 0; seed < 6000; seed++)
        {
            string order = string.Join(",", Permutation.Random(3, seed));
            counts[order] = counts.GetValueOrDefault(order) + 1;
        }
        Assert.That(counts, Has.Count.EqualTo(6));
        double chiSquare = counts.Values.Sum(count => (count - 1000.0) * (count - 1000.0) / 1000.0);
        Assert.That(chiSquare, Is.LessThan(20.5));
    }

    [Test]
    public void BoundedDrawsStayBelowTheBound()
    {
        var random = new SplitMix64(99);
        foreach (ulong bound in new ulong[] { 1, 2, 3, 7, 1000, ulong.MaxValue })
            for (int i = 0; i < 1000; i++)
                Assert.That(random.NextBelow(bound), Is.LessThan(bound));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SplitMix64(1).NextBelow(0));
    }
}
