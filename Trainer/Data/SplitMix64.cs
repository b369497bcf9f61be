namespace MeZO.Trainer.Data;

/// <summary>
/// SplitMix64 (Steele, Lea and Flood 2014; the seeding generator of the xoshiro family): a 64-bit state that advances by
/// the golden-ratio increment 0x9E3779B97F4A7C15 and is mixed by two xor-shift-multiply rounds. We use it, rather than
/// System.Random, because its output is fixed by this definition on every runtime and platform, so a data sample depends on
/// the seed alone. Known answer: seed 1234567 → 6457827717110365317, 3203168211198807973, 9817491932198370423, …
/// </summary>
public struct SplitMix64
{
    private ulong state;

    public SplitMix64(ulong seed) => state = seed;

    public ulong Next()
    {
        state += 0x9E3779B97F4A7C15UL;
        ulong z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// A uniform integer in [0, <paramref name="bound"/>) without modulo bias (Lemire 2019, "Fast random integer generation
    /// in an interval"): the high word of next·bound, redrawing while the low word falls below 2⁶⁴ mod bound.
    /// </summary>
    public ulong NextBelow(ulong bound)
    {
        ArgumentOutOfRangeException.ThrowIfZero(bound);
        UInt128 product = (UInt128)Next() * bound;
        ulong low = (ulong)product;
        if (low < bound)
        {
            ulong threshold = (0UL - bound) % bound;
            while (low < threshold)
            {
                product = (UInt128)Next() * bound;
                low = (ulong)product;
            }
        }
        return (ulong)(product >> 64);
    }
}
