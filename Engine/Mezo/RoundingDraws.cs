using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MeZO.Engine.Noise;

namespace MeZO.Engine.Mezo;

/// <summary>
/// The stochastic-rounding draws k (U = k·2⁻²⁴) of consecutive global indices, bit-identical to
/// <see cref="StochasticRounding.Draw"/>, eight Philox blocks per AVX-512 batch where the processor has it (the
/// tests compare the two on unaligned ranges of every length).
/// </summary>
internal static class RoundingDraws
{
    public static void Fill(ulong seed, ulong firstIndex, Span<uint> destination)
    {
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        int i = 0;
        // Scalar up to the first block boundary, whole batches of 8 blocks vectorised, the tail scalar.
        for (; i < destination.Length && ((firstIndex + (ulong)i) & 3) != 0; i++)
            destination[i] = StochasticRounding.Draw(seed, firstIndex + (ulong)i);
        if (Avx512F.IsSupported)
        {
            ref uint output = ref MemoryMarshal.GetReference(destination);
            for (; i + 32 <= destination.Length; i += 32)
                Batch((firstIndex + (ulong)i) >> 2, k0, k1, ref Unsafe.Add(ref output, i));
            if (i < destination.Length)
            {
                // The last partial batch through a stack buffer: one vector batch instead of up to 31 scalar blocks.
                Span<uint> batch = stackalloc uint[32];
                Batch((firstIndex + (ulong)i) >> 2, k0, k1, ref MemoryMarshal.GetReference(batch));
                batch[..(destination.Length - i)].CopyTo(destination[i..]);
                return;
            }
        }
        for (; i < destination.Length; i++)
            destination[i] = StochasticRounding.Draw(seed, firstIndex + (ulong)i);
    }

    /// <summary>32 draws of blocks firstBlock … firstBlock + 7, interleaved back into element order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Batch(ulong firstBlock, uint k0, uint k1, ref uint output)
    {
        Philox4x32Vector512.Generate(firstBlock, StochasticRounding.Stream, StochasticRounding.Domain, k0, k1,
            out var x0, out var x1, out var x2, out var x3);
        var lanes01 = Vector512.Narrow(x0, x1) >>> 8; // x0 of blocks 0..7, then x1 of blocks 0..7
        var lanes23 = Vector512.Narrow(x2, x3) >>> 8;
        var firstHalf = Vector512.Create(0u, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
        var secondHalf = Vector512.Create(4u, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
        Avx512F.PermuteVar16x32x2(lanes01, firstHalf, lanes23).StoreUnsafe(ref output);
        Avx512F.PermuteVar16x32x2(lanes01, secondHalf, lanes23).StoreUnsafe(ref output, 16);
    }
}
