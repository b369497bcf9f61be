using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu.Backward;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Backward;

/// <summary><see cref="CpuElementwiseBackward"/>: the activations' derivatives and SwiGLU's silu(gate)·up.</summary>
[TestFixture]
public sealed class ElementwiseBackwardTests : BackwardTestBase
{
    [Test]
    public void ActivationBackwardMatchesFiniteDifferences([Values] ActivationKind kind, [ValueSource(nameof(AwkwardRows))] int rows,
        [ValueSource(nameof(AwkwardWidths))] int width)
    {
        var rng = new Random(rows * 1000 + width + (int)kind);
        // Scale 3 reaches GELU's tails and SiLU's saturation; values within 1e-3 of ReLU's kink are moved off it, where
        // a ±h difference would straddle the corner.
        float[] x = Normal(rng, rows * width, scale: 3.0).Select(v => Math.Abs(v) < 1e-3f ? v + 0.01f : v).ToArray();
        float[] r = Normal(rng, rows * width);
        var grad = F32("mlp.grad", r, rows, width);

        Backend.ActivationBackward(kind, F32("mlp", x, rows, width), grad);

        Func<double, double> f = kind switch
        {
            ActivationKind.Relu => ReferenceMath.Relu,
            ActivationKind.GeluTanh => ReferenceMath.GeluTanh,
            ActivationKind.GeluErf => ReferenceMath.GeluErf,
            ActivationKind.Silu => ReferenceMath.Silu,
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        // L = Σ r·f(x) is a sum of independent terms, so moving x[i] changes only the i-th: the finite difference of
        // that term alone is the one of L, without the reference GELU's series over every other element (O(n²)).
        double[] expected = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double[] element = [x[i]];
            expected[i] = FiniteDifferences(element, () => r[i] * f(element[0]))[0];
        }
        // No sum: a few roundings in f′ (exp, tanh) and the product.
        AssertGradient(ReadF32(grad), expected, 1, $"{kind} grad");
    }

    [Test]
    public void SiluMulBackwardMatchesFiniteDifferences([ValueSource(nameof(AwkwardRows))] int rows, [ValueSource(nameof(AwkwardWidths))] int width)
    {
        var rng = new Random(rows * 1000 + width);
        float[] gate = Normal(rng, rows * width, scale: 3.0), up = Normal(rng, rows * width), r = Normal(rng, rows * width);
        var gateGrad = Zeros("gate.grad", DType.F32, rows, width);
        var upGrad = Zeros("up.grad", DType.F32, rows, width);

        Backend.SiluMulBackward(F32("gate", gate, rows, width), F32("up", up, rows, width), F32("mlp_out.grad", r, rows, width),
            gateGrad, upGrad);

        double[] gd = ToDouble(gate), ud = ToDouble(up);
        double Loss()
        {
            double sum = 0;
            for (int i = 0; i < gd.Length; i++) sum += r[i] * ReferenceMath.Silu(gd[i]) * ud[i];
            return sum;
        }
        AssertGradient(ReadF32(gateGrad), FiniteDifferences(gd, Loss), 1, "gateGrad");
        AssertGradient(ReadF32(upGrad), FiniteDifferences(ud, Loss), 1, "upGrad");
    }

    [Test]
    public void ElementwiseBackwardsRejectBadTensorsByName()
    {
        var x = F32("mlp", new float[12], 3, 4);
        var grad = F32("mlp.grad", new float[12], 3, 4);
        AssertNamesTensor(() => BackwardContracts.Activation(Backend, x, F32("short.grad", new float[11], 11)), "short.grad");
        AssertNamesTensor(() => BackwardContracts.Activation(Backend, Zeros("half_mlp", DType.F16, 3, 4), grad), "half_mlp");
        AssertNamesTensor(() => BackwardContracts.SiluMul(Backend, x, Zeros("long_up", DType.F32, 13), grad, grad, grad), "long_up");
        AssertNamesTensor(() => BackwardContracts.SiluMul(Backend, x, x, grad, grad, Zeros("bf16_up.grad", DType.BF16, 3, 4)), "bf16_up.grad");
    }
}
