using System.Runtime.CompilerServices;

namespace MeZO.Engine.Noise;

/// <summary>
/// Philox4x32-10, the counter-based generator of Salmon et al., "Parallel Random Numbers: As Easy as 1, 2, 3" (SC11),
/// with the Random123 / cuRAND constants. A pure function of (counter, key): any element of the stream is computed
/// directly, with no state, which is what lets every backend and every thread regenerate the same z (DESIGN §3).
/// The code mirrors the CUDA device function in Kernels/ line for line so the uint32 streams are bit-identical.
/// </summary>
public static class Philox4x32
{
    /// <summary>Round multipliers: M0 multiplies counter word 0, M1 counter word 2.</summary>
    public const uint M0 = 0xD251_1F53u, M1 = 0xCD9E_8D57u;

    /// <summary>Key schedule (Weyl sequence) increments: the golden ratio and sqrt(3) − 1 as 32-bit fractions.</summary>
    public const uint W0 = 0x9E37_79B9u, W1 = 0xBB67_AE85u;

    public const int Rounds = 10;

    /// <summary>The four output words of one counter block.</summary>
    public readonly record struct Block(uint X0, uint X1, uint X2, uint X3);

    /// <summary>Encrypts counter (c0, c1, c2, c3) under key (k0, k1) with ten rounds.</summary>
    public static Block Generate(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < Rounds; round++)
        {
            if (round > 0)
            {
                k0 += W0;
                k1 += W1;
            }
            Round(ref c0, ref c1, ref c2, ref c3, k0, k1);
        }
        return new Block(c0, c1, c2, c3);
    }

    /// <summary>
    /// One Philox S-box/P-box round: two 32×32→64 products, whose high halves are mixed with the other two words and
    /// the key, and the words are permuted (0, 1, 2, 3) ← (hi1⊕c1⊕k0, lo1, hi0⊕c3⊕k1, lo0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Round(ref uint c0, ref uint c1, ref uint c2, ref uint c3, uint k0, uint k1)
    {
        ulong product0 = (ulong)M0 * c0;
        ulong product1 = (ulong)M1 * c2;
        uint hi0 = (uint)(product0 >> 32), lo0 = (uint)product0;
        uint hi1 = (uint)(product1 >> 32), lo1 = (uint)product1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
}
