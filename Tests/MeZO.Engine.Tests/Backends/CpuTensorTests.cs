using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Engine.Tests.Backends;

/// <summary>
/// What the CPU op tests share, forward (<see cref="CpuOpsTests"/>) and backward: a fresh backend per test, tensors
/// made from host values (weights rounded to their storage dtype first, so a reference reads exactly what is stored)
/// and freed after it, and element-wise assertions that name the first failing element.
/// </summary>
public abstract class CpuTensorTests
{
    protected static readonly DType[] WeightTypes = [DType.F32, DType.F16, DType.BF16];

    /// <summary>One float32 rounding, relative: 2⁻²⁴.</summary>
    protected const double Ulp32 = 1.0 / (1 << 24);

    protected CpuBackend Backend = null!;
    private readonly List<Tensor> _tensors = [];

    [SetUp]
    public void CreateBackend() => Backend = new CpuBackend();

    [TearDown]
    public void DisposeBackend()
    {
        foreach (var t in _tensors) t.Dispose();
        _tensors.Clear();
        Backend.Dispose();
    }

    private Tensor Track(Tensor t)
    {
        _tensors.Add(t);
        return t;
    }

    /// <summary>A float32 activation tensor holding <paramref name="values"/>.</summary>
    protected Tensor F32(string name, float[] values, params int[] shape)
    {
        var t = Track(Backend.Allocate(new TensorShape(shape), DType.F32, MemoryCategory.Activations, name));
        Backend.Upload<float>(t, values);
        return t;
    }

    /// <summary>A zero-filled tensor of any dtype (outputs, or tensors whose dtype is deliberately wrong).</summary>
    protected Tensor Zeros(string name, DType type, params int[] shape) =>
        Track(Backend.Allocate(new TensorShape(shape), type, MemoryCategory.Activations, name));

    protected Tensor I32(string name, int[] values, params int[] shape)
    {
        var t = Track(Backend.Allocate(new TensorShape(shape), DType.I32, MemoryCategory.Activations, name));
        Backend.Upload<int>(t, values);
        return t;
    }

    /// <summary>
    /// A weight tensor of <paramref name="type"/>; <paramref name="values"/> are rounded in place to what the tensor
    /// holds, so the caller's reference uses exactly the stored values.
    /// </summary>
    protected Tensor Weight(string name, DType type, float[] values, params int[] shape)
    {
        var t = Track(Backend.Allocate(new TensorShape(shape), type, MemoryCategory.Weights, name));
        for (int i = 0; i < values.Length; i++) values[i] = ReferenceRounding.Round(type, values[i]);
        switch (type)
        {
            case DType.F32:
                Backend.Upload<float>(t, values);
                break;
            case DType.F16:
                Backend.Upload<ushort>(t, values.Select(ReferenceRounding.HalfBits).ToArray());
                break;
            case DType.BF16:
                Backend.Upload<ushort>(t, values.Select(ReferenceRounding.BFloat16Bits).ToArray());
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "not a weight dtype");
        }
        return t;
    }

    protected float[] ReadF32(Tensor t)
    {
        var values = new float[t.ElementCount];
        Backend.Download<float>(t, values);
        return values;
    }

    protected int[] ReadI32(Tensor t)
    {
        var values = new int[t.ElementCount];
        Backend.Download<int>(t, values);
        return values;
    }

    /// <summary>Normally distributed values with standard deviation <paramref name="scale"/> plus <paramref name="offset"/>.</summary>
    protected static float[] Normal(Random rng, int count, double scale = 1.0, double offset = 0.0)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            values[i] = (float)(offset + scale * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return values;
    }

    /// <summary>Asserts |actual[i] − expected[i]| ≤ tolerance(i) element by element, naming the first failing index.</summary>
    protected static void AssertClose(float[] actual, double[] expected, Func<int, double> tolerance, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), $"{what}: element count");
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            if (!(error <= tolerance(i)))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R} (error {error:E3} > tolerance {tolerance(i):E3})");
        }
    }

    /// <summary>Asserts that <paramref name="action"/> throws an <see cref="ArgumentException"/> naming <paramref name="tensorName"/>.</summary>
    protected static void AssertNamesTensor(Action action, string tensorName)
    {
        var error = Assert.Throws<ArgumentException>(() => action())!;
        Assert.That(error.Message, Does.Contain($"'{tensorName}'"), "the error must name the offending tensor");
    }

    /// <summary>Where an attention case's padding sits in each sequence but the first.</summary>
    public enum Padding { None, Left, Right, Middle }

    /// <summary>Real tokens 1, padding 0, over the first <paramref name="filled"/> positions of each row; row 0 is never padded.</summary>
    protected static int[] KeyMask(int batch, int filled, int capacity, Padding padding)
    {
        int[] mask = new int[batch * capacity];
        int pad = Math.Max(1, filled / 3);
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < filled; j++)
            {
                bool isPad = b > 0 && padding switch
                {
                    Padding.Left => j < pad,
                    Padding.Right => j >= filled - pad,
                    Padding.Middle => j >= 1 && j < 1 + pad,
                    _ => false,
                };
                mask[b * capacity + j] = isPad ? 0 : 1;
            }
        return mask;
    }
}
