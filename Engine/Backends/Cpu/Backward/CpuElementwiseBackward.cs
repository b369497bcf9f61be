using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu.Backward;

/// <summary>
/// The backward of the activations and of SwiGLU's silu(gate)·up: element-wise, in contiguous chunks over the cores as
/// the forward runs. Each element's inputs are read before its gradient is written, so a gradient may overwrite the
/// tensor it is computed from.
/// </summary>
internal static unsafe class CpuElementwiseBackward
{
    private const long Chunk = 16384;
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
            switch (kind)
            {
                case ActivationKind.Relu:
                    // PyTorch's convention: the derivative at 0 is 0.
                    for (long i = start; i < end; i++) gp[i] = xp[i] > 0f ? gp[i] : 0f;
                    break;
                case ActivationKind.Silu:
                    for (long i = start; i < end; i++) gp[i] *= SiluDerivative(xp[i]);
                    break;
                case ActivationKind.GeluTanh:
                    for (long i = start; i < end; i++)
                    {
                        // d/dx ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³): ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²).
                        float a = xp[i];
                        float t = MathF.Tanh(SqrtTwoOverPi * (a + GeluCubic * a * a * a));
                        gp[i] *= 0.5f * (1f + t) + 0.5f * a * (1f - t * t) * SqrtTwoOverPi * (1f + 3f * GeluCubic * a * a);
                    }
                    break;
                case ActivationKind.GeluErf:
                    for (long i = start; i < end; i++)
                    {
                        // d/dx x·Φ(x) = Φ(x) + x·φ(x), in double as the forward evaluates Φ.
                        double a = xp[i];
                        double derivative = 0.5 * (1.0 + Erf.Evaluate(a * InverseSqrtTwo)) + a * InverseSqrtTwoPi * Math.Exp(-0.5 * a * a);
                        gp[i] = (float)(gp[i] * derivative);
                    }
                    break;
            }
        });
    }

    /// <summary>
    /// Of output = silu(gate)·up: gateGrad = outputGrad·up·silu′(gate), upGrad = outputGrad·silu(gate); shapes validated
    /// by <see cref="BackwardContracts.SiluMul"/>.
    /// </summary>
    public static void SiluMul(Tensor gate, Tensor up, Tensor outputGrad, Tensor gateGrad, Tensor upGrad)
    {
        float* g = (float*)gate.Address, u = (float*)up.Address, og = (float*)outputGrad.Address;
        float* gg = (float*)gateGrad.Address, ug = (float*)upGrad.Address;
        CpuParallel.For(gate.ElementCount, Chunk, (start, end) =>
        {
            for (long i = start; i < end; i++)
            {
                float a = g[i], b = u[i], dy = og[i];
                float sigmoid = 1f / (1f + MathF.Exp(-a));
                gg[i] = dy * b * (sigmoid * (1f + a * (1f - sigmoid)));
                ug[i] = dy * (a * sigmoid);
            }
        });
    }

    /// <summary>d/dx x·σ(x) = σ(x)·(1 + x·(1 − σ(x))).</summary>
    private static float SiluDerivative(float x)
    {
        float sigmoid = 1f / (1f + MathF.Exp(-x));
        return sigmoid * (1f + x * (1f - sigmoid));
    }
}
