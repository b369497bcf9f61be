using System.Runtime.CompilerServices;

namespace MeZO.Engine.Noise;

/// <summary>
/// Steps 3–4 of DESIGN §3 for one pair of Philox words: u = (x >> 8)·2⁻²⁴ + 2⁻²⁵, then
/// r = sqrt(−2 ln u_a), (z0, z1) = (r cos 2πu_b, r sin 2πu_b), in double, each rounded once to float32.
/// <para>
/// ln and sincos are computed here rather than by the C library so that the result is a fixed sequence of correctly
/// rounded IEEE operations (+, ×, fma, ÷, sqrt): the vectorised twin <see cref="BoxMuller512"/> and a CUDA device
/// function written the same way then produce the same bits, on every machine. Their error is about one double
/// ulp, far below the float32 rounding that follows.
/// </para>
/// </summary>
internal static class BoxMuller
{
    public const double TwoPowMinus24 = 1.0 / (1 << 24);
    public const double TwoPowMinus25 = 0.5 / (1 << 24);

    // ln 2 split so that e·Ln2High is exact for the exponents that occur (|e| ≤ 25 needs 5 more bits than its 32).
    public const double Ln2High = 0.6931471803691238;     // 0x1.62e42fee00000p-1: ln 2 truncated to 32 bits
    public const double Ln2Low = 1.9082149292705877e-10;  // ln 2 − Ln2High, rounded
    public const double Sqrt2 = 1.4142135623730951;

    // ln m = 2·atanh(s) = 2s·(1 + s²/3 + s⁴/5 + …) with |s| ≤ (√2−1)/(√2+1) ≈ 0.1716, so s² ≤ 0.0295: the first
    // omitted term, s²¹/23, is below 1e-18 relative — Taylor coefficients suffice, no fitted constants needed.
    public const double Atanh1 = 1.0 / 3, Atanh2 = 1.0 / 5, Atanh3 = 1.0 / 7, Atanh4 = 1.0 / 9, Atanh5 = 1.0 / 11,
        Atanh6 = 1.0 / 13, Atanh7 = 1.0 / 15, Atanh8 = 1.0 / 17, Atanh9 = 1.0 / 19, Atanh10 = 1.0 / 21;

    // sin and cos on [0, π/4] by Taylor series: the first omitted terms, θ¹⁹/19! and θ¹⁸/18!, are below 1e-17.
    public const double Sin1 = -1.0 / 6, Sin2 = 1.0 / 120, Sin3 = -1.0 / 5040, Sin4 = 1.0 / 362880,
        Sin5 = -1.0 / 39916800, Sin6 = 1.0 / 6227020800, Sin7 = -1.0 / 1307674368000, Sin8 = 1.0 / 355687428096000;
    public const double Cos1 = -1.0 / 2, Cos2 = 1.0 / 24, Cos3 = -1.0 / 720, Cos4 = 1.0 / 40320,
        Cos5 = -1.0 / 3628800, Cos6 = 1.0 / 479001600, Cos7 = -1.0 / 87178291200, Cos8 = 1.0 / 20922789888000;

    /// <summary>π/4 · 2⁻²²: the angle of one step of the 2⁻²² grid on which the reduced argument lies.</summary>
    public const double QuarterPiGridStep = Math.PI / 4 / (1 << 22);

    /// <summary>z = (r cos 2πu_b, r sin 2πu_b) with r = sqrt(−2 ln u_a), rounded once to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (float Z0, float Z1) Transform(uint a, uint b)
    {
        var (z0, z1) = TransformInDouble(a, b);
        return ((float)z0, (float)z1);
    }

    /// <summary>The pair before the float32 rounding.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (double Z0, double Z1) TransformInDouble(uint a, uint b)
    {
        double r = Math.Sqrt(-2.0 * Log(Uniform(a)));
        var (sin, cos) = SinCosTwoPi(b);
        return (r * cos, r * sin);
    }

    /// <summary>u = (x >> 8)·2⁻²⁴ + 2⁻²⁵ ∈ (0, 1), exact in double: an odd multiple of 2⁻²⁵.</summary>
    public static double Uniform(uint x) => (x >> 8) * TwoPowMinus24 + TwoPowMinus25;

    /// <summary>ln u for a positive normal u: u = 2^e·m with m ∈ (√2/2, √2], ln u = e·ln 2 + 2·atanh((m−1)/(m+1)).</summary>
    public static double Log(double u)
    {
        ulong bits = BitConverter.DoubleToUInt64Bits(u);
        ulong biasedExponent = bits >> 52;
        double m = BitConverter.UInt64BitsToDouble((bits & 0x000F_FFFF_FFFF_FFFFul) | 0x3FF0_0000_0000_0000ul);
        if (m > Sqrt2)
        {
            m *= 0.5;
            biasedExponent++;
        }
        double e = (int)biasedExponent - 1023;
        double f = m - 1.0;             // exact (Sterbenz)
        double s = f / (2.0 + f);
        double twoS = s + s;
        double w = s * s;
        double p = Math.FusedMultiplyAdd(w, Atanh10, Atanh9);
        p = Math.FusedMultiplyAdd(w, p, Atanh8);
        p = Math.FusedMultiplyAdd(w, p, Atanh7);
        p = Math.FusedMultiplyAdd(w, p, Atanh6);
        p = Math.FusedMultiplyAdd(w, p, Atanh5);
        p = Math.FusedMultiplyAdd(w, p, Atanh4);
        p = Math.FusedMultiplyAdd(w, p, Atanh3);
        p = Math.FusedMultiplyAdd(w, p, Atanh2);
        p = Math.FusedMultiplyAdd(w, p, Atanh1);
        double logM = Math.FusedMultiplyAdd(twoS * w, p, twoS);
        return e * Ln2High + Math.FusedMultiplyAdd(e, Ln2Low, logM);
    }

    /// <summary>
    /// (sin 2πu, cos 2πu) for u = Uniform(x), reduced exactly with integers. u = (2k+1)·2⁻²⁵ with k = x >> 8, so
    /// 8u = (2k+1)·2⁻²²: the octant is k's top 3 bits (x's bits 31..29) and the position inside it is
    /// (2j+1)·2⁻²² with j = k's low 21 bits. In odd octants the angle is measured from the octant's far end
    /// (j → 2²¹−1−j), so θ = (2j+1)·π/4·2⁻²² ∈ (0, π/4); the octant then picks which of sin θ, cos θ is the sine
    /// and their signs.
    /// </summary>
    public static (double Sin, double Cos) SinCosTwoPi(uint x)
    {
        uint octant = x >> 29;
        uint j = (x >> 8) & 0x1F_FFFFu;
        if ((octant & 1) != 0) j ^= 0x1F_FFFFu;
        double theta = (2 * j + 1) * QuarterPiGridStep;
        double w = theta * theta;
        double ps = Math.FusedMultiplyAdd(w, Sin8, Sin7);
        ps = Math.FusedMultiplyAdd(w, ps, Sin6);
        ps = Math.FusedMultiplyAdd(w, ps, Sin5);
        ps = Math.FusedMultiplyAdd(w, ps, Sin4);
        ps = Math.FusedMultiplyAdd(w, ps, Sin3);
        ps = Math.FusedMultiplyAdd(w, ps, Sin2);
        ps = Math.FusedMultiplyAdd(w, ps, Sin1);
        double sinTheta = Math.FusedMultiplyAdd(theta * w, ps, theta);
        double pc = Math.FusedMultiplyAdd(w, Cos8, Cos7);
        pc = Math.FusedMultiplyAdd(w, pc, Cos6);
        pc = Math.FusedMultiplyAdd(w, pc, Cos5);
        pc = Math.FusedMultiplyAdd(w, pc, Cos4);
        pc = Math.FusedMultiplyAdd(w, pc, Cos3);
        pc = Math.FusedMultiplyAdd(w, pc, Cos2);
        pc = Math.FusedMultiplyAdd(w, pc, Cos1);
        double cosTheta = Math.FusedMultiplyAdd(w, pc, 1.0);

        // Octants 1, 2, 5, 6 swap the roles; the sine is negative in octants 4–7, the cosine in octants 2–5.
        bool swap = (((octant >> 1) ^ octant) & 1) != 0;
        bool sinNegative = (octant & 4) != 0;
        bool cosNegative = (((octant >> 2) ^ (octant >> 1)) & 1) != 0;
        double sin = swap ? cosTheta : sinTheta;
        double cos = swap ? sinTheta : cosTheta;
        return (sinNegative ? -sin : sin, cosNegative ? -cos : cos);
    }
}
