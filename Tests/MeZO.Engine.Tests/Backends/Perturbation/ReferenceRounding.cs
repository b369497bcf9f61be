using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Tests.Backends.Perturbation;

/// <summary>
/// DESIGN §3's stochastic rounding written from its text, apart from the engine's: the neighbours a ≤ v ≤ b found by
/// stepping from the nearest storage value (System.Half's own BitIncrement for F16; BF16 as the top half of a
/// float32), the draw from Philox's counter (lo32(blk), hi32(blk), 1, "roun"), and the comparison in double.
/// </summary>
internal static class ReferenceRounding
{
    public static float Round(float v, DType type, ulong seed, ulong index)
    {
        var (a, b) = Neighbours(v, type);
        if (a == b) return v;
        ulong block = index >> 2;
        var x = Philox4x32.Generate((uint)block, (uint)(block >> 32), 1, 0x726F756E, (uint)seed, (uint)(seed >> 32));
        uint word = (index & 3) switch { 0 => x.X0, 1 => x.X1, 2 => x.X2, _ => x.X3 };
        double u = (word >> 8) / 16777216.0;
        return u < ((double)v - a) / ((double)b - a) ? b : a;
    }

    /// <summary>The storage values a ≤ v ≤ b either side of v (equal when v is one).</summary>
    public static (float A, float B) Neighbours(float v, DType type)
    {
        float nearest = ScalarConversions.RoundTo(type, v);
        if (nearest == v) return (v, v);
        return nearest < v ? (nearest, Next(nearest, type, up: true)) : (Next(nearest, type, up: false), nearest);
    }

    /// <summary>The next storage value above (or below) a storage value.</summary>
    private static float Next(float value, DType type, bool up)
    {
        if (type == DType.F16) return (float)(up ? Half.BitIncrement((Half)value) : Half.BitDecrement((Half)value));
        if (value == 0) return BitConverter.Int32BitsToSingle((up ? 0 : unchecked((int)0x8000_0000)) | 1 << 16);
        int bits = BitConverter.SingleToInt32Bits(value) >> 16 << 16;
        bool awayFromZero = up == value > 0;
        return BitConverter.Int32BitsToSingle(bits + (awayFromZero ? 1 << 16 : -(1 << 16)));
    }
}
