using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MeZO.Engine.Noise;

/// <summary>
/// <see cref="Philox4x32"/> for eight consecutive counter blocks at once (AVX-512). Each 64-bit lane holds one block's
/// 32-bit word, so one vpmuludq (<see cref="Avx512F.Multiply(Vector512{uint}, Vector512{uint})"/>) gives the eight
/// full 32×32→64 products a round needs. The multiply reads only the low half of each lane, so the words may carry
/// junk in their high halves between rounds; it is cleared once at the end.
/// </summary>
internal static class Philox4x32Vector512
{
    public static bool IsSupported => Avx512F.IsSupported;

    /// <summary>Words of the blocks (lo32(b), hi32(b), 0, 0) for b = firstBlock … firstBlock + 7, each zero-extended.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Generate(ulong firstBlock, uint k0, uint k1,
        out Vector512<ulong> x0, out Vector512<ulong> x1, out Vector512<ulong> x2, out Vector512<ulong> x3) =>
        Generate(firstBlock, 0, 0, k0, k1, out x0, out x1, out x2, out x3);

    /// <summary>Words of the blocks (lo32(b), hi32(b), word2, word3) for b = firstBlock … firstBlock + 7, each zero-extended.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Generate(ulong firstBlock, uint word2, uint word3, uint k0, uint k1,
        out Vector512<ulong> x0, out Vector512<ulong> x1, out Vector512<ulong> x2, out Vector512<ulong> x3)
    {
        var low32 = Vector512.Create(0xFFFF_FFFFul);
        var blocks = Vector512.Create(firstBlock) + Vector512<ulong>.Indices;
        var m0 = Vector512.Create((ulong)Philox4x32.M0).AsUInt32();
        var m1 = Vector512.Create((ulong)Philox4x32.M1).AsUInt32();
        var c0 = blocks & low32;
        var c1 = blocks >>> 32;
        var c2 = Vector512.Create((ulong)word2);
        var c3 = Vector512.Create((ulong)word3);
        for (int round = 0; round < Philox4x32.Rounds; round++)
        {
            var key0 = Vector512.Create((ulong)unchecked(k0 + (uint)round * Philox4x32.W0));
            var key1 = Vector512.Create((ulong)unchecked(k1 + (uint)round * Philox4x32.W1));
            var product0 = Avx512F.Multiply(c0.AsUInt32(), m0);
            var product1 = Avx512F.Multiply(c2.AsUInt32(), m1);
            var next0 = (product1 >>> 32) ^ c1 ^ key0;
            var next2 = (product0 >>> 32) ^ c3 ^ key1;
            c1 = product1;
            c3 = product0;
            c0 = next0;
            c2 = next2;
        }
        x0 = c0 & low32;
        x1 = c1 & low32;
        x2 = c2 & low32;
        x3 = c3 & low32;
    }
}
