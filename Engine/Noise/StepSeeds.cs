namespace MeZO.Engine.Noise;

/// <summary>
/// The step seeds of a run (DESIGN §3): seed(t, q) = x0 | x1 &lt;&lt; 32 of
/// Philox4x32-10((lo32(t), hi32(t), q, "mezo"), (lo32(runSeed), hi32(runSeed))). A pure function, so any step of any
/// run can be replayed without generating the ones before it.
/// </summary>
public static class StepSeeds
{
    /// <summary>0x6D657A6F, the ASCII bytes of "mezo": separates this use of the run seed from any other.</summary>
    public const uint Domain = 0x6D65_7A6Fu;

    /// <summary>The seed of step <paramref name="step"/> (≥ 0), sample <paramref name="sample"/>.</summary>
    public static ulong For(ulong runSeed, long step, uint sample)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        var x = Philox4x32.Generate((uint)step, (uint)((ulong)step >> 32), sample, Domain, (uint)runSeed, (uint)(runSeed >> 32));
        return x.X0 | (ulong)x.X1 << 32;
    }
}
