using MeZO.Tests.Common;
using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Backends.Cuda.Emulation;
using NUnit.Framework;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Engine.Tests.Backends;

/// <summary>
/// A NaN (or an overflow to ±∞) entering an op comes out of it as NaN, on the CPU backend and on the CUDA kernels (run
/// by the host emulation): no max, comparison or clamp may drop it and hand a finite, silently changed result onward.
/// Each case puts one bad value into otherwise ordinary inputs and checks the rows it reaches, and only those.
/// </summary>
[Category("HostKernels")]
[Category(TestSpeed.Slow)]
[TestFixture("cpu")]
[TestFixture("cuda-emulated")]
public sealed class NonFinitePropagationTests(string backendName)
{
    private IBackend _backend = null!;
    private readonly List<Tensor> _tensors = [];

    [OneTimeSetUp]
    public void CreateBackend() => _backend = backendName == "cpu"
        ? new CpuBackend()
        : new CudaBackend(new EmulatedRuntime(80, null), new CudaBackendOptions(), new MemoryReport());

    [OneTimeTearDown]
    public void DisposeBackend() => _backend.Dispose();

    [TearDown]
    public void DisposeTensors()
    {
        foreach (var t in _tensors) t.Dispose();
        _tensors.Clear();
    }

    [Test]
    public void LogSoftmaxGatherANaNLogitMakesItsRowNaN()
    {
        const int vocab = 300; // several blocks' worth of threads and a tail
        float[] logits = Ramp(2 * vocab);
        logits[vocab + 7] = float.NaN; // row 1, away from its target
        var output = Zeros(DType.F32, 2);
        _backend.LogSoftmaxGather(F32(logits, 2, vocab), I32([3, 200], 2), output);
        float[] result = Download(output);
        Assert.That(float.IsFinite(result[0]), Is.True, "row 0 holds no NaN");
        Assert.That(result[1], Is.NaN);
    }

    [Test]
    public void LogSoftmaxAccumulateANaNLogitInAnySliceMakesTheRowNaN()
    {
        const int width = 70;
        var state = F32([float.NegativeInfinity, 0f, float.NaN, float.NegativeInfinity, 0f, float.NaN], 2, 3);
        var targets = I32([5, 130], 2);
        float[] first = Ramp(2 * width), second = Ramp(2 * width);
        second[width + 40] = float.NaN; // row 1, second slice
        _backend.LogSoftmaxAccumulate(F32(first, 2, width), targets, 0, state);
        _backend.LogSoftmaxAccumulate(F32(second, 2, width), targets, width, state);
        float[] s = Download(state);
        Assert.That(float.IsFinite(s[0]) && float.IsFinite(s[1]), Is.True, "row 0's maximum and sum");
        Assert.That(s[3], Is.NaN, "row 1's maximum");
        Assert.That(s[4], Is.NaN, "row 1's sum");
    }

    [TestCase(float.NaN)]
    [TestCase(float.PositiveInfinity)]
    [TestCase(float.NegativeInfinity)]
    public void ArgmaxARowWithANonFiniteValueHasNone(float bad)
    {
        const int vocab = 300;
        float[] logits = Ramp(3 * vocab);
        logits[vocab + 299] = bad; // row 1, last element
        logits[2 * vocab] = bad;   // row 2, first element
        var output = Zeros(DType.I32, 3);
        _backend.Argmax(F32(logits, 3, vocab), output);
        int[] result = new int[3];
        _backend.Download(output, result);
        Assert.That(result, Is.EqualTo(new[] { vocab - 1, -1, -1 }), "a ramp's maximum is its last element");
    }

    [Test]
    public void LayerNormANaNWeightOrInputReachesTheOutput()
    {
        const int width = 40;
        float[] x = Ramp(3 * width), weight = Ones(width), bias = new float[width];
        x[2 * width + 11] = float.NaN; // row 2: the whole row, through its mean
        weight[5] = float.NaN;         // column 5 of every row
        var output = Zeros(DType.F32, 3, width);
        _backend.LayerNorm(F32(x, 3, width), F32(weight, width), F32(bias, width), 1e-5f, output);
        float[] y = Download(output);
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < width; c++)
                Assert.That(float.IsNaN(y[r * width + c]), Is.EqualTo(c == 5), $"row {r}, column {c}");
        Assert.That(y[(2 * width)..].All(float.IsNaN), Is.True, "row 2");
    }

    [Test]
    public void RmsNormANaNWeightOrInputReachesTheOutput()
    {
        const int width = 40;
        float[] x = Ramp(3 * width), weight = Ones(width);
        x[2 * width + 11] = float.NaN;
        weight[5] = float.NaN;
        var output = Zeros(DType.F32, 3, width);
        _backend.RmsNorm(F32(x, 3, width), F32(weight, width), 1e-6f, output);
        float[] y = Download(output);
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < width; c++)
                Assert.That(float.IsNaN(y[r * width + c]), Is.EqualTo(c == 5), $"row {r}, column {c}");
        Assert.That(y[(2 * width)..].All(float.IsNaN), Is.True, "row 2");
    }

    [Test]
    public void ReluKeepsNaN()
    {
        var x = F32([float.NaN, -1f, 2f, float.NaN], 4);
        _backend.Activation(ActivationKind.Relu, x);
        float[] y = Download(x);
        Assert.That(y[0], Is.NaN);
        Assert.That(y[1..3], Is.EqualTo(new[] { 0f, 2f }));
        Assert.That(y[3], Is.NaN);
    }

    /// <summary>
    /// One sequence of 5 positions, 2 heads: a NaN in head 0's query at position 3 (what a NaN q_proj weight gives) must
    /// make that query's output NaN, not the zeros of a query with nothing to attend; head 1 and the other positions
    /// stay finite.
    /// </summary>
    [Test]
    public void AttentionANaNQueryGivesNaN()
    {
        const int length = 5, heads = 2, dim = 4;
        float[] q = Ramp(length * heads * dim), k = Ramp(length * heads * dim), v = Ramp(length * heads * dim);
        for (int d = 0; d < dim; d++) q[(3 * heads + 0) * dim + d] = float.NaN;
        float[] y = Attend(q, k, v, Ones<int>(length), length, heads, dim);
        for (int t = 0; t < length; t++)
            for (int h = 0; h < heads; h++)
                for (int d = 0; d < dim; d++)
                    Assert.That(float.IsNaN(y[(t * heads + h) * dim + d]), Is.EqualTo(t == 3 && h == 0), $"position {t}, head {h}, dim {d}");
    }

    /// <summary>
    /// Scores that all overflow to −∞ (huge opposite query and key) are a broken forward pass, not a padding query:
    /// NaN. A padded position with nothing to attend still gets zeros.
    /// </summary>
    [Test]
    public void AttentionScoresThatAllOverflowGiveNaNAPaddingQueryZeros()
    {
        const int length = 3, heads = 1, dim = 2;
        float[] q = [1f, 1f, -3e38f, -3e38f, 1f, 1f]; // position 1's scores, −6e38, overflow to −∞
        float[] k = [1f, 1f, 1f, 1f, 1f, 1f];
        float[] v = [1f, 2f, 3f, 4f, 5f, 6f];
        float[] y = Attend(q, k, v, [1, 1, 0], length, heads, dim);
        Assert.That(y[..2], Is.EqualTo(new[] { 1f, 2f }), "position 0 attends key 0 alone");
        Assert.That(y[2], Is.NaN, "position 1");
        Assert.That(y[3], Is.NaN, "position 1");
        Assert.That(y[4..], Is.EqualTo(new[] { 2f, 3f }), "position 2 attends keys 0 and 1 (key 2 is masked) equally");

        float[] leftPadded = Attend([1f, 1f, 1f, 1f, 1f, 1f], v, v, [0, 1, 1], length, heads, dim);
        Assert.That(leftPadded[..2], Is.EqualTo(new[] { 0f, 0f }), "a query with no key to attend");
    }

    private float[] Attend(float[] q, float[] k, float[] v, int[] mask, int length, int heads, int dim)
    {
        var output = Zeros(DType.F32, 1, length, heads, dim);
        _backend.Attention(F32(q, 1, length, heads, dim), F32(k, 1, length, heads, dim), F32(v, 1, length, heads, dim),
            I32(mask, 1, length), 0, 1f, 0, output);
        return Download(output);
    }

    /// <summary>Small distinct finite values: 0.01·i, centred.</summary>
    private static float[] Ramp(int n) => Enumerable.Range(0, n).Select(i => 0.01f * i - 0.005f * n).ToArray();

    private static float[] Ones(int n) => Ones<float>(n);

    private static T[] Ones<T>(int n) where T : System.Numerics.INumber<T> => Enumerable.Repeat(T.One, n).ToArray();

    private Tensor Track(Tensor t)
    {
        _tensors.Add(t);
        return t;
    }

    private Tensor Zeros(DType type, params int[] shape)
    {
        var t = Track(_backend.Allocate(new TensorShape(shape), type, MemoryCategory.Activations, "zeros"));
        if (type == DType.F32) _backend.Upload<float>(t, new float[t.ElementCount]);
        else _backend.Upload<int>(t, new int[t.ElementCount]);
        return t;
    }

    private Tensor F32(float[] values, params int[] shape)
    {
        var t = Track(_backend.Allocate(new TensorShape(shape), DType.F32, MemoryCategory.Activations, "f32"));
        _backend.Upload<float>(t, values);
        return t;
    }

    private Tensor I32(int[] values, params int[] shape)
    {
        var t = Track(_backend.Allocate(new TensorShape(shape), DType.I32, MemoryCategory.Activations, "i32"));
        _backend.Upload<int>(t, values);
        return t;
    }

    private float[] Download(Tensor t)
    {
        var values = new float[t.ElementCount];
        _backend.Download<float>(t, values);
        return values;
    }
}
