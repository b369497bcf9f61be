using MeZO.Engine.Noise;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Noise;

public class Philox4x32Tests
{
    // Known answers of Random123's tests/kat_vectors (D. E. Shaw Research, github.com/DEShawResearch/random123), the
    // three "philox4x32 10" lines: counter c0..c3, key k0 k1, then the expected x0..x3, all hex. The first is also
    // the known answer quoted in DESIGN §3; the other two exercise carries in every word (all ones) and an irregular
    // pattern (the hex digits of π).
    [TestCase(0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u,
        0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [TestCase(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
        0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [TestCase(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u,
        0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void MatchesRandom123KnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1,
        uint x0, uint x1, uint x2, uint x3)
    {
        var block = Philox4x32.Generate(c0, c1, c2, c3, k0, k1);

        Assert.That(block, Is.EqualTo(new Philox4x32.Block(x0, x1, x2, x3)));
    }
}
