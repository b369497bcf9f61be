using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>
/// The MeZO ops on the CPU: one pass over the weight per call, on all cores. Each chunk regenerates its own z from the
/// global element index (<see cref="GaussianNoise.Fill"/>), so the result does not depend on how the work is split.
/// Work goes in tiles of <see cref="Tile"/> elements: z and, for 16-bit weights, the weights widened to float32 live
/// in stack buffers that stay in L1; nothing proportional to the tensor is allocated.
/// </summary>
internal static unsafe class CpuPerturbation
{
    /// <summary>Elements per tile: two 4 KiB float32 buffers.</summary>
    private const int Tile = 1024;

    /// <summary>Smallest chunk worth a thread: generating z costs about 1.3 ns per element, so 32 Ki elements ≈ 40 µs.</summary>
    private const long MinChunk = 32 * 1024;

    /// <summary>w[i] = w[i] + scale·z(seed, firstIndex + i), in float32, rounded once to w's dtype.</summary>
    public static void Perturb(Tensor weight, ulong seed, ulong firstIndex, float scale) =>
        ForEachTile(weight, seed, firstIndex, (w, z) => AddScaled(w, z, scale));

    /// <summary>
    /// w = (w + eps·z)·(1 − lr·λ) − (lr·g)·z, each element evaluated in float32 in exactly this order and grouping
    /// (the two per-call factors once), then rounded once to w's dtype.
    /// </summary>
    public static void PerturbUpdate(Tensor weight, ulong seed, ulong firstIndex, float eps, float learningRate,
        float weightDecay, float projectedGradient)
    {
        float decay = 1f - learningRate * weightDecay;
        float step = learningRate * projectedGradient;
        ForEachTile(weight, seed, firstIndex, (w, z) => RestoreAndUpdate(w, z, eps, decay, step));
    }

    private delegate void TileUpdate(Span<float> weights, ReadOnlySpan<float> noise);

    private static void ForEachTile(Tensor weight, ulong seed, ulong firstIndex, TileUpdate update)
    {
        nint address = weight.Address;
        DType type = weight.DType;
        CpuParallel.For(weight.ElementCount, MinChunk, (start, end) =>
        {
            Span<float> noise = stackalloc float[Tile];
            Span<float> widened = stackalloc float[Tile];
            for (long offset = start; offset < end; offset += Tile)
            {
                int count = (int)Math.Min(Tile, end - offset);
                Span<float> z = noise[..count];
                GaussianNoise.Fill(seed, firstIndex + (ulong)offset, z);
                if (type == DType.F32)
                {
                    update(new Span<float>((float*)address + offset, count), z);
                    continue;
                }
                Span<float> w = widened[..count];
                CpuConvert.Load(address, type, offset, w);
                update(w, z);
                CpuConvert.Store(w, address, type, offset);
            }
        });
    }

    // The loops below spell out each float32 operation (no fused multiply-add) so that the vector body and the scalar
    // tail, and a plain loop elsewhere, round identically. Fully optimised at once, like the noise they consume.

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddScaled(Span<float> w, ReadOnlySpan<float> z, float scale)
    {
        ref float wr = ref MemoryMarshal.GetReference(w);
        ref float zr = ref MemoryMarshal.GetReference(z);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var s = new Vector<float>(scale);
            for (; i + Vector<float>.Count <= w.Length; i += Vector<float>.Count)
            {
                var wv = Vector.LoadUnsafe(ref wr, (nuint)i);
                var zv = Vector.LoadUnsafe(ref zr, (nuint)i);
                (wv + s * zv).StoreUnsafe(ref wr, (nuint)i);
            }
        }
        for (; i < w.Length; i++) w[i] = w[i] + scale * z[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RestoreAndUpdate(Span<float> w, ReadOnlySpan<float> z, float eps, float decay, float step)
    {
        ref float wr = ref MemoryMarshal.GetReference(w);
        ref float zr = ref MemoryMarshal.GetReference(z);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var e = new Vector<float>(eps);
            var d = new Vector<float>(decay);
            var g = new Vector<float>(step);
            for (; i + Vector<float>.Count <= w.Length; i += Vector<float>.Count)
            {
                var wv = Vector.LoadUnsafe(ref wr, (nuint)i);
                var zv = Vector.LoadUnsafe(ref zr, (nuint)i);
                ((wv + e * zv) * d - g * zv).StoreUnsafe(ref wr, (nuint)i);
            }
        }
        for (; i < w.Length; i++) w[i] = (w[i] + eps * z[i]) * decay - step * z[i];
    }
}
