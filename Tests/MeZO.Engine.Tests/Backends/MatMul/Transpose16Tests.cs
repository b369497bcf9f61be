using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MeZO.Engine.Backends.Cpu.MatMul;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.MatMul;

[TestFixture]
public sealed class Transpose16Tests
{
    [Test]
    public void EveryElementLandsAtItsMirrorPosition()
    {
        if (!Avx512F.IsSupported) Assert.Ignore("no AVX-512 on this CPU: the transpose is not used");
        // Element (i, j) holds 100·i + j, so a wrong position shows which one it came from.
        var r = new Vector512<float>[16];
        for (int i = 0; i < 16; i++) r[i] = Vector512.Create(Enumerable.Range(0, 16).Select(j => 100f * i + j).ToArray());
        Transpose16.Transpose(ref r[0], ref r[1], ref r[2], ref r[3], ref r[4], ref r[5], ref r[6], ref r[7],
            ref r[8], ref r[9], ref r[10], ref r[11], ref r[12], ref r[13], ref r[14], ref r[15]);
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 16; j++)
                Assert.That(r[i][j], Is.EqualTo(100f * j + i), $"element ({i}, {j})");
    }
}
