using MeZO.Engine.Backends;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends;

/// <summary>Activations, SiluMul and Add against their double-precision definitions.</summary>
public sealed partial class CpuOpsTests
{
    /// <summary>Values where the functions bend, saturate or cancel, then random ones.</summary>
    private static float[] ActivationInputs(int count, int seed)
    {
        float[] special = [0f, -0f, 1e-3f, -1e-3f, 0.5f, -0.5f, 1f, -1f, 3f, -3f, 5.5f, -5.5f, 12f, -12f, 30f, -30f, 88f, -88f];
        float[] values = Normal(new Random(seed), count, scale: 4.0);
        special.AsSpan(0, Math.Min(count, special.Length)).CopyTo(values);
        return values;
    }

    [Test]
    public void ActivationMatchesItsDefinition([Values] ActivationKind kind, [Values(1, 3, 17, 129, 40000)] int count)
    {
        float[] x = ActivationInputs(count, count);
        var tensor = F32("mlp_hidden", x, count);

        Backend.Activation(kind, tensor);

        Func<double, double> f = kind switch
        {
            ActivationKind.Relu => ReferenceMath.Relu,
            ActivationKind.GeluTanh => ReferenceMath.GeluTanh,
            ActivationKind.GeluErf => ReferenceMath.GeluErf,
            ActivationKind.Silu => ReferenceMath.Silu,
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        double[] expected = x.Select(v => f(v)).ToArray();
        // float32 evaluation: a few roundings relative to the result, and for the GELUs the (1 + tanh) / (1 + erf) sum
        // cancels for negative inputs, so its rounding error is relative to |x|, not to the (tiny) result.
        AssertClose(ReadF32(tensor), expected, i => 8 * Ulp32 * (Math.Abs(expected[i]) + (kind is ActivationKind.GeluTanh or ActivationKind.GeluErf ? Math.Abs(x[i]) : 0)),
            $"Activation {kind}");
    }

    [Test]
    public void ReferenceErfMatchesPublishedValues()
    {
        // Abramowitz & Stegun table 7.1 and standard tables of erfc; the reference GELU stands on these.
        Assert.That(ReferenceMath.Erf(0.5), Is.EqualTo(0.5204998778130465).Within(1e-15));
        Assert.That(ReferenceMath.Erf(1.0), Is.EqualTo(0.8427007929497149).Within(1e-15));
        Assert.That(ReferenceMath.Erf(-2.0), Is.EqualTo(-0.9953222650189527).Within(1e-15));
        Assert.That(ReferenceMath.Erfc(3.0), Is.EqualTo(2.209049699858544e-05).Within(1e-18));
        Assert.That(ReferenceMath.Erfc(5.0), Is.EqualTo(1.5374597944280349e-12).Within(1e-25));
        // Either side of the switch from series to continued fraction agrees.
        Assert.That(ReferenceMath.Erf(2.5 - 1e-12), Is.EqualTo(ReferenceMath.Erf(2.5)).Within(1e-13));
    }

    [Test]
    public void SiluMulGatesTheUpProjection([Values(1, 3, 17, 129, 40000)] int count)
    {
        float[] gate = ActivationInputs(count, count + 1);
        float[] up = Normal(new Random(count), count, scale: 2.0);
        var gateTensor = F32("gate", gate, count);

        Backend.SiluMul(gateTensor, F32("up", up, count));

        double[] expected = gate.Select((g, i) => ReferenceMath.Silu(g) * up[i]).ToArray();
        // exp, division and product: a few float32 roundings relative to the result.
        AssertClose(ReadF32(gateTensor), expected, i => 8 * Ulp32 * Math.Abs(expected[i]), "SiluMul");
    }

    [Test]
    public void AddIsACorrectlyRoundedSum([Values(1, 3, 17, 129, 40000)] int count)
    {
        var rng = new Random(count);
        float[] x = Normal(rng, count), y = Normal(rng, count, scale: 100.0);
        var tensor = F32("residual", x, count);

        Backend.Add(tensor, F32("attn_out", y, count));

        // One float32 addition is correctly rounded: exactly the double sum rounded once.
        AssertClose(ReadF32(tensor), x.Select((v, i) => (double)(float)((double)v + y[i])).ToArray(), _ => 0, "Add");
    }

    [Test]
    public void AddScaledRoundsTheProductThenTheSum([Values(1, 3, 17, 129, 40000)] int count)
    {
        var rng = new Random(count + 1);
        float[] x = Normal(rng, count), y = Normal(rng, count, scale: 100.0);
        const float scale = 0.3f;
        var tensor = F32("q", x, count);

        Backend.AddScaled(tensor, F32("lora_q", y, count), scale);

        // fl(x + fl(scale·y)): each float32 operation correctly rounded, as the double result rounded once; a fused
        // multiply-add would differ in the last bit for many of these elements.
        double[] expected = x.Select((v, i) => (double)(float)((double)v + (float)((double)scale * y[i]))).ToArray();
        AssertClose(ReadF32(tensor), expected, _ => 0, "AddScaled");
    }

    [Test]
    public void ElementwiseRejectMismatchedShapes()
    {
        var x = F32("gate", new float[6], 2, 3);
        AssertNamesTensor(() => Backend.Activation(ActivationKind.Relu, Zeros("int_hidden", DType.I32, 6)), "int_hidden");
        AssertNamesTensor(() => Backend.SiluMul(x, F32("short_up", new float[5], 5)), "short_up");
        AssertNamesTensor(() => Backend.Add(x, F32("long_y", new float[7], 7)), "long_y");
        AssertNamesTensor(() => Backend.Add(x, Zeros("int_y", DType.I32, 2, 3)), "int_y");
        AssertNamesTensor(() => Backend.AddScaled(x, F32("short_lora", new float[5], 5), 2f), "short_lora");
    }
}
