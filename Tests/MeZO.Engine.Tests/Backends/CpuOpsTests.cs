using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Engine.Tests.Backends;

/// <summary>
/// Every <see cref="CpuBackend"/> op against a naive double-precision loop written in the test (one partial file per op
/// family), on awkward shapes. Weights are rounded to their storage dtype before upload, and the reference reads the
/// same rounded values, so a tolerance only has to cover the float32 arithmetic of the op itself.
/// </summary>
[TestFixture]
public sealed partial class CpuOpsTests
{
    /// <summary>Shapes that break vector widths (1, 3, 17) and cross several 16-lane vectors with a tail (129).</summary>
    private static readonly int[] AwkwardLengths = [1, 3, 17, 129];

    private static readonly DType[] WeightTypes = [DType.F32, DType.F16, DType.BF16];

    /// <summary>One float32 rounding, relative: 2⁻²⁴.</summary>
    private const double Ulp32 = 1.0 / (1 << 24);

    private CpuBackend _backend = null!;
    private readonly List<Tensor> _tensors = [];

    [SetUp]
    public void CreateBackend() => _backend = new CpuBackend();

    [TearDown]
    public void DisposeBackend()
    {
        foreach (var t in _tensors) t.Dispose();
        _tensors.Clear();
        _backend.Dispose();
    }

    private Tensor Track(Tensor t)
    {
        _tensors.Add(t);
        return t;
    }

    /// <summary>A float32 activation tensor holding <paramref name="values"/>.</summary>
    private Tensor F32(string name, float[] values, params int[] shape)
    {
        var t = Track(_backend.Allocate(new TensorShape(shape), DType.F32, MemoryCategory.Activations, name));
        _backend.Upload<float>(t, values);
        return t;
    }

    /// <summary>A zero-filled tensor of any dtype (outputs, or tensors whose dtype is deliberately wrong).</summary>
    private Tensor Zeros(string name, DType type, params int[] shape) =>
        Track(_backend.Allocate(new TensorShape(shape), type, MemoryCategory.Activations, name));

    private Tensor I32(string name, int[] values, params int[] shape)
    {
        var t = Track(_backend.Allocate(new TensorShape(shape), DType.I32, MemoryCategory.Activations, name));
        _backend.Upload<int>(t, values);
        return t;
    }

    /// <summary>
    /// A weight tensor of <paramref name="type"/>; <paramref name="values"/> are rounded in place to what the tensor
    /// holds, so the caller's reference uses exactly the stored values.
    /// </summary>
    private Tensor Weight(string name, DType type, float[] values, params int[] shape)
    {
        var t = Track(_backend.Allocate(new TensorShape(shape), type, MemoryCategory.Weights, name));
        for (int i = 0; i < values.Length; i++) values[i] = ReferenceRounding.Round(type, values[i]);
        switch (type)
        {
            case DType.F32:
                _backend.Upload<float>(t, values);
                break;
            case DType.F16:
                _backend.Upload<ushort>(t, values.Select(ReferenceRounding.HalfBits).ToArray());
                break;
            case DType.BF16:
                _backend.Upload<ushort>(t, values.Select(ReferenceRounding.BFloat16Bits).ToArray());
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "not a weight dtype");
        }
        return t;
    }

    private float[] ReadF32(Tensor t)
    {
        var values = new float[t.ElementCount];
        _backend.Download<float>(t, values);
        return values;
    }

    private int[] ReadI32(Tensor t)
    {
        var values = new int[t.ElementCount];
        _backend.Download<int>(t, values);
        return values;
    }

    /// <summary>Normally distributed values with standard deviation <paramref name="scale"/> plus <paramref name="offset"/>.</summary>
    private static float[] Normal(Random rng, int count, double scale = 1.0, double offset = 0.0)
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
    private static void AssertClose(float[] actual, double[] expected, Func<int, double> tolerance, string what)
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
    private static void AssertNamesTensor(Action action, string tensorName)
    {
        var error = Assert.Throws<ArgumentException>(() => action())!;
        Assert.That(error.Message, Does.Contain($"'{tensorName}'"), "the error must name the offending tensor");
    }
}
