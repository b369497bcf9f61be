using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MeZO.Engine.Noise;

/// <summary>
/// The MeZO perturbation z of DESIGN §3: a standard normal z_i for every global element index i under a step seed,
/// a pure function of (seed, i). Element i is lane i &amp; 3 of Philox block i >> 2 keyed by the seed, and the block's
/// words (x0, x1), (x2, x3) become (z0, z1), (z2, z3) through Box–Muller (<see cref="BoxMuller"/>).
/// </summary>
public static class GaussianNoise
{
    private const int ElementsPerBlock = 4;

    /// <summary>Elements produced by one AVX-512 batch: eight Philox blocks.</summary>
    private const int BatchElements = 8 * ElementsPerBlock;

    /// <summary>z_i for step seed <paramref name="seed"/> and global element index <paramref name="index"/>.</summary>
    public static float Z(ulong seed, ulong index)
    {
        ulong block = index >> 2;
        var x = Philox4x32.Generate((uint)block, (uint)(block >> 32), 0, 0, (uint)seed, (uint)(seed >> 32));
        int lane = (int)(index & 3);
        var (z0, z1) = lane < 2 ? BoxMuller.Transform(x.X0, x.X1) : BoxMuller.Transform(x.X2, x.X3);
        return (lane & 1) == 0 ? z0 : z1;
    }

    /// <summary>
    /// destination[j] = z(seed, firstIndex + j), bit-identical to <see cref="Z"/>. Vectorised with AVX-512 where the
    /// processor has it; allocates nothing.
    /// </summary>
    public static void Fill(ulong seed, ulong firstIndex, Span<float> destination)
    {
        if (Philox4x32Vector512.IsSupported)
            FillVector512(seed, firstIndex, destination);
        else
            FillScalar(seed, firstIndex, destination);
    }

    /// <summary><see cref="Fill"/> one block at a time, the path of processors without AVX-512.</summary>
    internal static void FillScalar(ulong seed, ulong firstIndex, Span<float> destination)
    {
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        Span<float> block = stackalloc float[ElementsPerBlock];
        int lane = (int)(firstIndex & 3);
        for (ulong b = firstIndex >> 2; !destination.IsEmpty; b++, lane = 0)
        {
            ScalarBlock(b, k0, k1, block);
            int take = Math.Min(ElementsPerBlock - lane, destination.Length);
            block.Slice(lane, take).CopyTo(destination);
            destination = destination[take..];
        }
    }

    /// <summary>
    /// <see cref="Fill"/> with AVX-512: a first index inside a block takes that block's remaining lanes from the
    /// scalar path, whole batches of eight blocks go straight to the destination, and a last partial batch goes
    /// through a stack buffer.
    /// </summary>
    internal static void FillVector512(ulong seed, ulong firstIndex, Span<float> destination)
    {
        if (!Philox4x32Vector512.IsSupported)
            throw new PlatformNotSupportedException("GaussianNoise.FillVector512 needs AVX-512F");
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        int head = (int)((ElementsPerBlock - (firstIndex & 3)) & 3);
        if (head > 0)
        {
            head = Math.Min(head, destination.Length);
            FillScalar(seed, firstIndex, destination[..head]);
            destination = destination[head..];
        }
        ulong firstBlock = (firstIndex + (ulong)head) >> 2;
        int whole = destination.Length - destination.Length % BatchElements;
        Batches(firstBlock, k0, k1, destination[..whole]);
        if (whole < destination.Length)
        {
            Span<float> batch = stackalloc float[BatchElements];
            Batches(firstBlock + (ulong)(whole / ElementsPerBlock), k0, k1, batch);
            batch[..(destination.Length - whole)].CopyTo(destination[whole..]);
        }
    }

    /// <summary>The four z of one block into destination[0..4).</summary>
    private static void ScalarBlock(ulong block, uint k0, uint k1, Span<float> destination)
    {
        var x = Philox4x32.Generate((uint)block, (uint)(block >> 32), 0, 0, k0, k1);
        (destination[0], destination[1]) = BoxMuller.Transform(x.X0, x.X1);
        (destination[2], destination[3]) = BoxMuller.Transform(x.X2, x.X3);
    }

    /// <summary>
    /// The z of blocks firstBlock, firstBlock + 1, … into destination, whose length is a multiple of 32, eight blocks
    /// per AVX-512 batch. Lanes hold blocks, so a batch comes out as z0, z1, z2, z3 of eight blocks each and two
    /// permutes interleave it back into element order: element 4b + l sits at l·8 + b of (lanes01, lanes23).
    /// Compiled fully optimised at once: this loop is nearly the whole cost of a perturbation, and its tier-0 code (in use
    /// for the first few dozen calls) is several times slower.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Batches(ulong firstBlock, uint k0, uint k1, Span<float> destination)
    {
        var firstHalf = Vector512.Create(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
        var secondHalf = Vector512.Create(4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
        ref float output = ref MemoryMarshal.GetReference(destination);
        for (int done = 0; done < destination.Length; done += BatchElements, firstBlock += 8)
        {
            Philox4x32Vector512.Generate(firstBlock, k0, k1, out var x0, out var x1, out var x2, out var x3);
            var (z0, z1) = BoxMullerVector512.Transform(x0, x1);
            var (z2, z3) = BoxMullerVector512.Transform(x2, x3);
            var lanes01 = Vector512.Narrow(z0, z1); // z0 of blocks 0..7, then z1 of blocks 0..7
            var lanes23 = Vector512.Narrow(z2, z3);
            Avx512F.PermuteVar16x32x2(lanes01, firstHalf, lanes23).StoreUnsafe(ref output, (nuint)done);
            Avx512F.PermuteVar16x32x2(lanes01, secondHalf, lanes23).StoreUnsafe(ref output, (nuint)done + 16);
        }
    }
}
