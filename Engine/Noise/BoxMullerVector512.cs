using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static MeZO.Engine.Noise.BoxMuller;

namespace MeZO.Engine.Noise;

/// <summary>
/// <see cref="BoxMuller"/> on eight pairs at once: the same operations in the same order, lane by lane, so the two
/// agree bit for bit. Inputs are Philox words zero-extended to 64-bit lanes.
/// </summary>
internal static class BoxMullerVector512
{
    private const ulong MantissaMask = 0x000F_FFFF_FFFF_FFFFul;
    private const ulong OneBits = 0x3FF0_0000_0000_0000ul;

    // 2⁵² as bits and value: OR-ing an integer n < 2⁵² into its mantissa and subtracting 2⁵² converts n exactly.
    private const ulong TwoPow52Bits = 0x4330_0000_0000_0000ul;
    private const double TwoPow52 = 4503599627370496.0;

    /// <summary>The pairs before the float32 rounding, lane by lane equal to <see cref="BoxMuller.TransformInDouble"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector512<double> Z0, Vector512<double> Z1) Transform(Vector512<ulong> a, Vector512<ulong> b)
    {
        var r = Vector512.Sqrt(Vector512.Create(-2.0) * Log(Uniform(a)));
        var (sin, cos) = SinCosTwoPi(b);
        return (r * cos, r * sin);
    }

    /// <summary>u = (x >> 8)·2⁻²⁴ + 2⁻²⁵, built as the double 1 + u (bits 51..28 hold x >> 8, bit 27 the 2⁻²⁵) minus 1, exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> Uniform(Vector512<ulong> x)
    {
        var onePlusU = Vector512.Create(OneBits | (1ul << 27)) | ((x >>> 8) << 28);
        return onePlusU.AsDouble() - Vector512.Create(1.0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> Log(Vector512<double> u)
    {
        var bits = u.AsUInt64();
        var biasedExponent = bits >>> 52;
        var m = ((bits & Vector512.Create(MantissaMask)) | Vector512.Create(OneBits)).AsDouble();
        var big = Vector512.GreaterThan(m, Vector512.Create(Sqrt2));
        m = Vector512.ConditionalSelect(big, m * Vector512.Create(0.5), m);
        biasedExponent += big.AsUInt64() & Vector512<ulong>.One;
        var e = (biasedExponent | Vector512.Create(TwoPow52Bits)).AsDouble() - Vector512.Create(TwoPow52 + 1023.0);
        var f = m - Vector512<double>.One;
        var s = f / (Vector512.Create(2.0) + f);
        var twoS = s + s;
        var w = s * s;
        var p = Vector512.FusedMultiplyAdd(w, Vector512.Create(Atanh10), Vector512.Create(Atanh9));
        p = Vector512.FusedMultiplyAdd(w, p, Vector512.Create(Atanh8));
        p = Vector512.FusedMultiplyAdd(w, p, Vector512.Create(Atanh7));
        p = Vector512.FusedMultiplyAdd(w, p, Vector512.Create(Atanh6));
        p = Vector512.FusedMultiplyAdd(w, p, Vector512.Create(Atanh5));
        p = Vector512.FusedMultiplyAdd(w, p, Vector512.Create(Atanh4));
        p = Vector512.FusedMultiplyAdd(w, p, Vector512.Create(Atanh3));
        p = Vector512.FusedMultiplyAdd(w, p, Vector512.Create(Atanh2));
        p = Vector512.FusedMultiplyAdd(w, p, Vector512.Create(Atanh1));
        var logM = Vector512.FusedMultiplyAdd(twoS * w, p, twoS);
        return e * Vector512.Create(Ln2High) + Vector512.FusedMultiplyAdd(e, Vector512.Create(Ln2Low), logM);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector512<double> Sin, Vector512<double> Cos) SinCosTwoPi(Vector512<ulong> x)
    {
        var octant = x >>> 29;
        var odd = octant & Vector512<ulong>.One;
        var j = ((x >>> 8) & Vector512.Create(0x1F_FFFFul)) ^ ((Vector512<ulong>.Zero - odd) & Vector512.Create(0x1F_FFFFul));
        var n = (j << 1) | Vector512<ulong>.One;
        var theta = ((n | Vector512.Create(TwoPow52Bits)).AsDouble() - Vector512.Create(TwoPow52)) * Vector512.Create(QuarterPiGridStep);
        var w = theta * theta;
        var ps = Vector512.FusedMultiplyAdd(w, Vector512.Create(Sin8), Vector512.Create(Sin7));
        ps = Vector512.FusedMultiplyAdd(w, ps, Vector512.Create(Sin6));
        ps = Vector512.FusedMultiplyAdd(w, ps, Vector512.Create(Sin5));
        ps = Vector512.FusedMultiplyAdd(w, ps, Vector512.Create(Sin4));
        ps = Vector512.FusedMultiplyAdd(w, ps, Vector512.Create(Sin3));
        ps = Vector512.FusedMultiplyAdd(w, ps, Vector512.Create(Sin2));
        ps = Vector512.FusedMultiplyAdd(w, ps, Vector512.Create(Sin1));
        var sinTheta = Vector512.FusedMultiplyAdd(theta * w, ps, theta);
        var pc = Vector512.FusedMultiplyAdd(w, Vector512.Create(Cos8), Vector512.Create(Cos7));
        pc = Vector512.FusedMultiplyAdd(w, pc, Vector512.Create(Cos6));
        pc = Vector512.FusedMultiplyAdd(w, pc, Vector512.Create(Cos5));
        pc = Vector512.FusedMultiplyAdd(w, pc, Vector512.Create(Cos4));
        pc = Vector512.FusedMultiplyAdd(w, pc, Vector512.Create(Cos3));
        pc = Vector512.FusedMultiplyAdd(w, pc, Vector512.Create(Cos2));
        pc = Vector512.FusedMultiplyAdd(w, pc, Vector512.Create(Cos1));
        var cosTheta = Vector512.FusedMultiplyAdd(w, pc, Vector512<double>.One);

        var swap = (Vector512<ulong>.Zero - (((octant >>> 1) ^ octant) & Vector512<ulong>.One)).AsDouble();
        var sinSign = ((octant & Vector512.Create(4ul)) << 61).AsDouble();
        var cosSign = ((((octant >>> 2) ^ (octant >>> 1)) & Vector512<ulong>.One) << 63).AsDouble();
        var sin = Vector512.ConditionalSelect(swap, cosTheta, sinTheta) ^ sinSign;
        var cos = Vector512.ConditionalSelect(swap, sinTheta, cosTheta) ^ cosSign;
        return (sin, cos);
    }
}
