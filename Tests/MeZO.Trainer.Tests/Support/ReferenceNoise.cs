namespace MeZO.Trainer.Tests.Support;

/// <summary>
/// DESIGN §3 written out from its text with plain loops and the base library's double math: Philox4x32-10, the step
/// seeds and z. Independent of MeZO.Engine.Noise (which has its own ln and sincos), so the optimizer is checked against
/// the specification rather than against the code it calls.
/// </summary>
internal static class ReferenceNoise
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>Ten rounds of Philox4x32 on (c0..c3) under (k0, k1), the key bumped between rounds.</summary>
    public static uint[] Philox(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        uint[] c = [c0, c1, c2, c3];
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c[0];
            ulong p1 = (ulong)M1 * c[2];
            c = [(uint)(p1 >> 32) ^ c[1] ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c[3] ^ k1, (uint)p0];
            k0 += W0;
            k1 += W1;
        }
        return c;
    }

    /// <summary>seed(t, q) = x0 | x1 &lt;&lt; 32 of Philox((lo t, hi t, q, "mezo"), (lo s, hi s)).</summary>
    public static ulong StepSeed(ulong runSeed, long step, uint sample)
    {
        var x = Philox((uint)step, (uint)((ulong)step >> 32), sample, 0x6D657A6F, (uint)runSeed, (uint)(runSeed >> 32));
        return x[0] | (ulong)x[1] << 32;
    }

    /// <summary>z_i: lane i &amp; 3 of block i >> 2, Box–Muller in double on (x0, x1) or (x2, x3), rounded once to float.</summary>
    public static float Z(ulong seed, ulong index)
    {
        ulong block = index >> 2;
        var x = Philox((uint)block, (uint)(block >> 32), 0, 0, (uint)seed, (uint)(seed >> 32));
        int lane = (int)(index & 3);
        uint a = lane < 2 ? x[0] : x[2], b = lane < 2 ? x[1] : x[3];
        double r = Math.Sqrt(-2 * Math.Log(Uniform(a)));
        // SinCosPi reduces the argument exactly; 2·u is exact, so the angle 2πu carries no rounding of π.
        var (sin, cos) = double.SinCosPi(2 * Uniform(b));
        return (float)((lane & 1) == 0 ? r * cos : r * sin);
    }

    private static double Uniform(uint x) => (x >> 8) * Math.Pow(2, -24) + Math.Pow(2, -25);
}
