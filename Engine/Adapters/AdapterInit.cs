using MeZO.Engine.Noise;

namespace MeZO.Engine.Adapters;

/// <summary>
/// Deterministic initial values for adapters: element i of the stream is a pure function of (seed, i) through
/// Philox4x32, in a domain of its own so it never coincides with MeZO's z of the same seed.
/// </summary>
public static class AdapterInit
{
    /// <summary>Counter word 2 of every draw: "lora" in ASCII.</summary>
    public const uint Domain = 0x6C6F_7261u;

    /// <summary>Counter word 2 of the token draws of a prefix's initialisation: "pfix".</summary>
    public const uint TokenDomain = 0x7066_6978u;

    /// <summary>
    /// <paramref name="count"/> token ids drawn uniformly from [0, vocabulary) (MeZO initialises a prefix from the
    /// activations of random vocabulary tokens); the modulo bias of a 32-bit draw is below 2^-16 for any real vocabulary.
    /// </summary>
    public static int[] Tokens(ulong seed, int count, int vocabulary)
    {
        var ids = new int[count];
        for (int i = 0; i < count; i++)
        {
            var block = Philox4x32.Generate((uint)i, 0, TokenDomain, 0, (uint)seed, (uint)(seed >> 32));
            ids[i] = (int)(block.X0 % (uint)vocabulary);
        }
        return ids;
    }

    /// <summary>destination[j] = U(−bound, bound) for stream elements firstIndex + j: 24 random bits → (2u − 1)·bound.</summary>
    public static void Uniform(ulong seed, ulong firstIndex, double bound, Span<float> destination)
    {
        for (int j = 0; j < destination.Length; j++)
        {
            ulong i = firstIndex + (ulong)j;
            var block = Philox4x32.Generate((uint)i, (uint)(i >> 32), Domain, 0, (uint)seed, (uint)(seed >> 32));
            double u = (block.X0 >> 8) * (1.0 / (1 << 24));
            destination[j] = (float)((2 * u - 1) * bound);
        }
    }
}
