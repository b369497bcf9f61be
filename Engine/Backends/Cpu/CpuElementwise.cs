using System.Numerics.Tensors;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>Element-wise ops, vectorised through TensorPrimitives and split in contiguous chunks over the cores.</summary>
internal static unsafe class CpuElementwise
{
    private const long Chunk = 16384;
    private const float SqrtTwoOverPi = 0.7978845608028654f;

    public static void Activation(ActivationKind kind, Tensor x)
    {
        float* p = (float*)x.Address;
        CpuParallel.For(x.ElementCount, Chunk, (start, end) =>
        {
            var v = new Span<float>(p + start, (int)(end - start));
            switch (kind)
            {
                case ActivationKind.Relu:
                    TensorPrimitives.Max(v, 0f, v);
                    break;
                case ActivationKind.Silu:
                    Silu(v);
                    break;
                case ActivationKind.GeluTanh:
                    for (int i = 0; i < v.Length; i++)
                    {
                        float a = v[i];
                        v[i] = 0.5f * a * (1f + MathF.Tanh(SqrtTwoOverPi * (a + 0.044715f * a * a * a)));
                    }
                    break;
                case ActivationKind.GeluErf:
                    for (int i = 0; i < v.Length; i++)
                        v[i] = (float)(0.5 * v[i] * (1.0 + Erf.Evaluate(v[i] / Math.Sqrt(2.0))));
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown activation");
            }
        });
    }

    public static void SiluMul(Tensor gate, Tensor up)
    {
        float* g = (float*)gate.Address, u = (float*)up.Address;
        CpuParallel.For(gate.ElementCount, Chunk, (start, end) =>
        {
            var v = new Span<float>(g + start, (int)(end - start));
            Silu(v);
            TensorPrimitives.Multiply(v, new ReadOnlySpan<float>(u + start, v.Length), v);
        });
    }

    public static void Add(Tensor x, Tensor y)
    {
        float* a = (float*)x.Address, b = (float*)y.Address;
        CpuParallel.For(x.ElementCount, Chunk, (start, end) =>
        {
            var v = new Span<float>(a + start, (int)(end - start));
            TensorPrimitives.Add(v, new ReadOnlySpan<float>(b + start, v.Length), v);
        });
    }

    public static void AddScaled(Tensor x, Tensor y, float scale)
    {
        float* a = (float*)x.Address, b = (float*)y.Address;
        CpuParallel.For(x.ElementCount, Chunk, (start, end) =>
        {
            // Two roundings, never a fused multiply-add, so the CUDA twin (built with --fmad=false) gives the same bits.
            for (long i = start; i < end; i++) a[i] += scale * b[i];
        });
    }

    private static void Silu(Span<float> v)
    {
        for (int i = 0; i < v.Length; i++) v[i] = v[i] / (1f + MathF.Exp(-v[i]));
    }
}
