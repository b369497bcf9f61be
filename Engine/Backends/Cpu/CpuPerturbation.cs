using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using MeZO.Engine.Mezo;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>
/// The MeZO ops on the CPU besides the perturbed product (<see cref="MatMul.PackedGemm.RunPerturbed"/>): perturbed
/// reads of small tensors and embedding rows, and the update, the only op that writes weights. Each chunk regenerates
/// its own z from the global element index (<see cref="GaussianNoise.Fill"/>), so results do not depend on how the
/// work is split. Work goes in tiles of <see cref="Tile"/> elements whose z, widened weights and rounding draws live
/// in stack buffers that stay in L1; nothing proportional to the tensor is allocated.
/// </summary>
internal static unsafe class CpuPerturbation
{
    /// <summary>Elements per tile: three 4 KiB buffers.</summary>
    private const int Tile = 1024;

    /// <summary>Smallest chunk worth a thread: generating z costs about 1.3 ns per element, so 32 Ki elements ≈ 40 µs.</summary>
    private const long MinChunk = 32 * 1024;

    /// <summary>
    /// destination[i] = w[i] + scale·z[i], float32, no fused multiply-add: the one definition of a perturbed read on the
    /// CPU (the CUDA kernels spell out the same two roundings).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddScaled(float* w, float scale, float* z, float* destination, long count)
    {
        long i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var s = Vector512.Create(scale);
            for (; i + 16 <= count; i += 16)
                (Vector512.Load(w + i) + s * Vector512.Load(z + i)).Store(destination + i);
        }
        for (; i < count; i++) destination[i] = w[i] + scale * z[i];
    }

    public static void PerturbedCopy(Tensor weight, TensorNoise noise, float scale, Tensor destination)
    {
        nint address = weight.Address;
        DType type = weight.DType;
        float* output = (float*)destination.Address;
        CpuParallel.For(weight.ElementCount, MinChunk, (start, end) =>
        {
            float* z = stackalloc float[Tile];
            for (long offset = start; offset < end; offset += Tile)
            {
                int count = (int)Math.Min(Tile, end - offset);
                GaussianNoise.Fill(noise.Seed, noise.FirstIndex + (ulong)offset, new Span<float>(z, count));
                CpuConvert.Load(address, type, offset, new Span<float>(output + offset, count));
                AddScaled(output + offset, scale, z, output + offset, count);
            }
        });
    }

    /// <summary>Each gathered row is table[id] + scale·z, then stored or added (ids were range-checked by the caller).</summary>
    public static void PerturbedEmbedding(Tensor table, TensorNoise noise, float scale, Tensor ids, Tensor output, bool accumulate)
    {
        int width = table.Shape[1];
        int* idp = (int*)ids.Address;
        float* outp = (float*)output.Address;
        nint tableAddress = table.Address;
        DType tableType = table.DType;
        CpuParallel.For(ids.ElementCount, 16, (start, end) =>
        {
            float[] rented = System.Buffers.ArrayPool<float>.Shared.Rent(2 * width);
            fixed (float* buffers = rented)
            {
                float* row = buffers, z = buffers + width;
                for (long n = start; n < end; n++)
                {
                    long rowOffset = (long)idp[n] * width;
                    float* dst = outp + n * width;
                    GaussianNoise.Fill(noise.Seed, noise.FirstIndex + (ulong)rowOffset, new Span<float>(z, width));
                    CpuConvert.Load(tableAddress, tableType, rowOffset, new Span<float>(row, width));
                    AddScaled(row, scale, z, accumulate ? row : dst, width);
                    if (accumulate)
                        System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>(dst, width), new ReadOnlySpan<float>(row, width),
                            new Span<float>(dst, width));
                }
            }
            System.Buffers.ArrayPool<float>.Shared.Return(rented);
        });
    }

    /// <summary>
    /// w = w·decay − step·z, each element evaluated in float32 in exactly this order (no fused multiply-add), then
    /// stored as is (F32) or rounded stochastically (F16, BF16).
    /// </summary>
    public static void MezoUpdate(Tensor weight, TensorNoise noise, UpdateFactors factors)
    {
        nint address = weight.Address;
        DType type = weight.DType;
        string name = weight.Name;
        CpuParallel.For(weight.ElementCount, MinChunk, (start, end) =>
        {
            float* z = stackalloc float[Tile];
            float* widened = stackalloc float[Tile];
            uint* draws = stackalloc uint[Tile];
            for (long offset = start; offset < end; offset += Tile)
            {
                int count = (int)Math.Min(Tile, end - offset);
                ulong first = noise.FirstIndex + (ulong)offset;
                GaussianNoise.Fill(noise.Seed, first, new Span<float>(z, count));
                float* w = type == DType.F32 ? (float*)address + offset : widened;
                if (type != DType.F32) CpuConvert.Load(address, type, offset, new Span<float>(w, count));
                Update(w, z, factors.Decay, factors.Step, count);
                if (type == DType.F32) continue;
                RoundingDraws.Fill(noise.Seed, first, new Span<uint>(draws, count));
                CpuStochasticRounding.Store(w, draws, count, (ushort*)address + offset, type, name);
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Update(float* w, float* z, float decay, float step, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var d = Vector512.Create(decay);
            var g = Vector512.Create(step);
            for (; i + 16 <= count; i += 16)
                (Vector512.Load(w + i) * d - g * Vector512.Load(z + i)).Store(w + i);
        }
        for (; i < count; i++) w[i] = w[i] * decay - step * z[i];
    }
}
