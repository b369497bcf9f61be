using System.Numerics;
using System.Numerics.Tensors;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu.Backward;

/// <summary>
/// The backward of the activations and of SwiGLU's silu(gate)·up: element-wise, in contiguous chunks over the cores as
/// the forward runs, each chunk in stack blocks vectorised through TensorPrimitives. A block's inputs are all read
/// before its gradients are written, so a gradient may overwrite a tensor it is computed from.
/// </summary>
internal static unsafe class CpuElementwiseBackward
{
    private const long Chunk = 16384;

    /// <summary>Elements per stack block: three float temporaries of 4 KiB each stay in L1.</summary>
    private const int Block = 1024;

    private const float SqrtTwoOverPi = 0.7978845608028654f;
    private const float GeluCubic = 0.044715f;
    private const double InverseSqrtTwo = 0.70710678118654752;
    private const double InverseSqrtTwoPi = 0.39894228040143268;

    /// <summary>grad *= f′(input), element-wise; shapes validated by <see cref="BackwardContracts.Activation"/>.</summary>
    public static void Activation(ActivationKind kind, Tensor input, Tensor grad)
    {
        if (kind is not (ActivationKind.Relu or ActivationKind.GeluTanh or ActivationKind.GeluErf or ActivationKind.Silu))
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown activation");
        float* xp = (float*)input.Address, gp = (float*)grad.Address;
        CpuParallel.For(grad.ElementCount, Chunk, (start, end) =>
        {
            Span<float> derivative = stackalloc float[Block], scratch = stackalloc float[Block];
            for (long b = start; b < end; b += Block)
            {
                int count = (int)Math.Min(Block, end - b);
                var x = new ReadOnlySpan<float>(xp + b, count);
                var g = new Span<float>(gp + b, count);
                var d = derivative[..count];
                switch (kind)
                {
                    case ActivationKind.Relu:
                        Relu(x, g);
                        continue;
                    case ActivationKind.Silu:
                        SiluDerivative(x, d, scratch[..count]);
                        break;
                    case ActivationKind.GeluTanh:
                        GeluTanhDerivative(x, d, scratch[..count]);
                        break;
                    case ActivationKind.GeluErf:
                        // d/dx x·Φ(x) = Φ(x) + x·φ(x), in double as the forward evaluates Φ.
                        for (int i = 0; i < count; i++)
                        {
                            double a = x[i];
                            d[i] = (float)(0.5 * (1.0 + Erf.Evaluate(a * InverseSqrtTwo)) + a * InverseSqrtTwoPi * Math.Exp(-0.5 * a * a));
                        }
                        break;
                }
                TensorPrimitives.Multiply(g, d, g);
            }
        });
    }

    /// <summary>
    /// Of output = silu(gate)·up: gateGrad = outputGrad·up·silu′(gate), upGrad = outputGrad·silu(gate); shapes validated
    /// by <see cref="BackwardContracts.SiluMul"/>.
    /// </summary>
    public static void SiluMul(Tensor gate, Tensor up, Tensor outputGrad, Tensor gateGrad, Tensor upGrad)
    {
        float* gp = (float*)gate.Address, upp = (float*)up.Address, og = (float*)outputGrad.Address;
        float* gg = (float*)gateGrad.Address, ug = (float*)upGrad.Address;
        CpuParallel.For(gate.ElementCount, Chunk, (start, end) =>
        {
            Span<float> derivative = stackalloc float[Block], silu = stackalloc float[Block];
            for (long b = start; b < end; b += Block)
            {
                int count = (int)Math.Min(Block, end - b);
                var dy = new ReadOnlySpan<float>(og + b, count);
                var d = derivative[..count];
                var s = silu[..count];
                SiluDerivative(new ReadOnlySpan<float>(gp + b, count), d, s);
                TensorPrimitives.Multiply(d, new ReadOnlySpan<float>(upp + b, count), d);
                TensorPrimitives.Multiply(d, dy, d);
                TensorPrimitives.Multiply(s, dy, s);
                d.CopyTo(new Span<float>(gg + b, count));
                s.CopyTo(new Span<float>(ug + b, count));
            }
        });
    }

    /// <summary>
    /// grad = input ≤ 0 ? 0 : grad, PyTorch's threshold_backward: the derivative at 0 is 0, and a NaN input passes its
    /// gradient through rather than hiding it.
    /// </summary>
    private static void Relu(ReadOnlySpan<float> x, Span<float> grad)
    {
        int i = 0;
        fixed (float* xp = x, gp = grad)
        {
            for (; i + Vector<float>.Count <= x.Length; i += Vector<float>.Count)
            {
                var blocked = Vector.LessThanOrEqual(Vector.Load(xp + i), Vector<float>.Zero);
                Vector.ConditionalSelect(blocked, Vector<float>.Zero, Vector.Load(gp + i)).Store(gp + i);
            }
        }
        for (; i < x.Length; i++) grad[i] = x[i] <= 0f ? 0f : grad[i];
    }

    /// <summary>silu′(x) = σ(x) + silu(x)·(1 − σ(x)) into <paramref name="derivative"/>, silu(x) = x·σ(x) into <paramref name="silu"/>.</summary>
    private static void SiluDerivative(ReadOnlySpan<float> x, Span<float> derivative, Span<float> silu)
    {
        TensorPrimitives.Sigmoid(x, derivative);
        TensorPrimitives.Multiply(x, derivative, silu);
        for (int i = 0; i < x.Length; i++)
        {
            float sigmoid = derivative[i];
            derivative[i] = sigmoid + silu[i] * (1f - sigmoid);
        }
    }

    /// <summary>
    /// d/dx ½x(1 + tanh u), u = √(2/π)·x·(1 + 0.044715x²): ½(1 + t)·(1 + x·(1 − t)·√(2/π)·(1 + 3·0.044715x²)), t = tanh u
    /// (using 1 − t² = (1 − t)(1 + t)).
    /// </summary>
    private static void GeluTanhDerivative(ReadOnlySpan<float> x, Span<float> derivative, Span<float> scratch)
    {
        TensorPrimitives.Multiply(x, x, scratch);                                    // x²
        TensorPrimitives.Multiply(scratch, GeluCubic, derivative);
        TensorPrimitives.Add(derivative, 1f, derivative);                             // 1 + c·x²
        TensorPrimitives.Multiply(derivative, x, derivative);
        TensorPrimitives.Multiply(derivative, SqrtTwoOverPi, derivative);             // u
        TensorPrimitives.Tanh(derivative, derivative);                                // t
        TensorPrimitives.Multiply(scratch, 3f * GeluCubic, scratch);
        TensorPrimitives.Add(scratch, 1f, scratch);                                   // 1 + 3c·x²
        TensorPrimitives.Multiply(scratch, SqrtTwoOverPi, scratch);                   // du/dx
        TensorPrimitives.Multiply(scratch, x, scratch);                               // x·du/dx
        // ½(1 + t) + ½(1 − t)(1 + t)·x·du/dx = ½(1 + t)·(1 + (1 − t)·x·du/dx)
        for (int i = 0; i < x.Length; i++)
        {
            float t = derivative[i];
            derivative[i] = 0.5f * (1f + t) * (1f + (1f - t) * scratch[i]);
        }
    }
}
