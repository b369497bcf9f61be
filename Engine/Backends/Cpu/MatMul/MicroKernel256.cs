using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MeZO.Engine.Backends.Cpu.MatMul;

/// <summary>
/// The portable twin of <see cref="MicroKernel512"/> for cores without AVX-512: same packed operands, same result bit
/// for bit (each element is the same FMA chain over k), one row at a time with four 8-lane accumulators. Correct
/// everywhere, fast nowhere in particular.
/// </summary>
internal static unsafe class MicroKernel256
{
    /// <inheritdoc cref="MicroKernel512.Run"/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int rows, float* a, float* b, int kc, float* c, long ldc, bool accumulate, float* bias)
    {
        for (int i = 0; i < rows; i++)
        {
            var z = Vector256<float>.Zero;
            Vector256<float> s0 = z, s1 = z, s2 = z, s3 = z;
            float* ap = a + i, bp = b;
            for (int k = 0; k < kc; k++)
            {
                var ak = Vector256.Create(*ap);
                s0 = Vector256.FusedMultiplyAdd(ak, Vector256.Load(bp), s0);
                s1 = Vector256.FusedMultiplyAdd(ak, Vector256.Load(bp + 8), s1);
                s2 = Vector256.FusedMultiplyAdd(ak, Vector256.Load(bp + 16), s2);
                s3 = Vector256.FusedMultiplyAdd(ak, Vector256.Load(bp + 24), s3);
                ap += rows;
                bp += GemmBlocking.Nr;
            }
            float* row = c + i * ldc;
            Finish(row, s0, accumulate, bias);
            Finish(row + 8, s1, accumulate, bias == null ? null : bias + 8);
            Finish(row + 16, s2, accumulate, bias == null ? null : bias + 16);
            Finish(row + 24, s3, accumulate, bias == null ? null : bias + 24);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(float* c, Vector256<float> acc, bool accumulate, float* bias)
    {
        if (accumulate) acc = Vector256.Load(c) + acc;
        if (bias != null) acc += Vector256.Load(bias);
        acc.Store(c);
    }
}
