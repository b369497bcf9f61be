using MeZO.Engine.Noise;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Noise;

public class StepSeedsTests
{
    [Test]
    public void IsTheFirstTwoPhiloxWordsOfStepSampleAndDomainUnderTheRunSeed()
    {
        // DESIGN §3, spelled out by hand: counter (lo32(t), hi32(t), q, "mezo"), key (lo32(run), hi32(run)),
        // seed = x0 | x1 << 32. A step above 2³² and a run seed with both halves set check every word's place.
        const ulong runSeed = 0x0123_4567_89AB_CDEFul;
        const long step = (5L << 32) | 0x0000_0007L;
        const uint sample = 3;
        var x = Philox4x32.Generate(0x0000_0007u, 5u, 3u, 0x6D65_7A6Fu, 0x89AB_CDEFu, 0x0123_4567u);

        ulong seed = StepSeeds.For(runSeed, step, sample);

        Assert.That(seed, Is.EqualTo(((ulong)x.X1 << 32) | x.X0));
    }

    [Test]
    public void DiffersAcrossStepsSamplesAndRunSeeds()
    {
        var seen = new HashSet<ulong>();
        int count = 0;
        foreach (ulong runSeed in new ulong[] { 0, 1, 1ul << 32, ulong.MaxValue })
        foreach (long step in new long[] { 0, 1, 2, 999, 1L << 32, long.MaxValue })
        for (uint sample = 0; sample < 4; sample++)
        {
            seen.Add(StepSeeds.For(runSeed, step, sample));
            count++;
        }

        Assert.That(seen, Has.Count.EqualTo(count));
    }

    [Test]
    public void RejectsANegativeStep()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => StepSeeds.For(1, -1, 0));
    }
}
