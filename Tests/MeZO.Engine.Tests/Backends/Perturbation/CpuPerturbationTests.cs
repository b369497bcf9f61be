using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Mezo;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;
using NUnit.Framework;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Engine.Tests.Backends.Perturbation;

public class CpuPerturbationTests
{
    private const ulong Seed = 0xD1B5_4A32_D192_ED03ul;

    // Lengths: a single element, partial Philox blocks, one tile plus a few, and enough for several threads' chunks
    // (chunks start at element offsets that are not multiples of 4, so a block straddles two chunks).
    private static readonly int[] Lengths = [1, 3, 17, 1029, 200_003];

    private static IEnumerable<TestCaseData> Cases()
    {
        foreach (DType type in new[] { DType.F32, DType.F16, DType.BF16 })
        foreach (int length in Lengths)
        foreach (ulong firstIndex in new ulong[] { 0, 1_000_003 })
            yield return new TestCaseData(type, length, firstIndex);
    }

    [TestCaseSource(nameof(Cases))]
    public void PerturbedCopyEqualsAPlainFloat32LoopAndLeavesTheWeightAlone(DType type, int length, ulong firstIndex)
    {
        const float scale = -1e-3f;
        using var backend = new CpuBackend();
        using var weights = WeightsWithSentinels(backend, type, length, out Tensor view);
        using var output = backend.Allocate(new TensorShape(length), DType.F32, MemoryCategory.Workspace, "out");

        float[] before = Read(view);
        backend.PerturbedCopy(view, new TensorNoise(Seed, firstIndex), scale, output);

        float[] expected = new float[length];
        for (int i = 0; i < length; i++) expected[i] = before[i] + scale * GaussianNoise.Z(Seed, firstIndex + (ulong)i);
        AssertBitsEqual(Read(output), expected, type);
        AssertBitsEqual(Read(view), before, type);
        AssertSentinelsUntouched(weights, type, length);
    }

    [TestCaseSource(nameof(Cases))]
    public void MezoUpdateEqualsAPlainLoopWithTheReferenceRounding(DType type, int length, ulong firstIndex)
    {
        using var backend = new CpuBackend();
        using var weights = WeightsWithSentinels(backend, type, length, out Tensor view);
        // η·g of a fraction of most elements' ulp, so the stochastic rounding decides most 16-bit results.
        var factors = new UpdateFactors(Decay: 1f - 1e-5f * 0.1f, Step: 1e-5f * -2.75f);

        float[] before = Read(view);
        backend.MezoUpdate(view, new TensorNoise(Seed, firstIndex), factors);

        // The update as DESIGN §3 states it, one float32 operation at a time, then the test's own rounding rule.
        float[] expected = new float[length];
        int rounded = 0;
        for (int i = 0; i < length; i++)
        {
            ulong index = firstIndex + (ulong)i;
            float v = before[i] * factors.Decay - factors.Step * GaussianNoise.Z(Seed, index);
            expected[i] = type == DType.F32 ? v : ReferenceRounding.Round(v, type, Seed, index);
            if (expected[i] != ScalarConversions.RoundTo(type, v)) rounded++;
        }
        AssertBitsEqual(Read(view), expected, type);
        AssertSentinelsUntouched(weights, type, length);
        if (type != DType.F32 && length > 1000)
            Assert.That(rounded, Is.GreaterThan(length / 20), "stochastic rounding must differ from round-to-nearest on many elements");
    }

    /// <summary>
    /// Values the vectorised rounding hands to the scalar rule — F16's subnormal range, values near the largest finite
    /// value, zeros of both signs, BF16 subnormals — mixed among ordinary ones, so both paths meet in one tile.
    /// </summary>
    [TestCase(DType.BF16)]
    [TestCase(DType.F16)]
    public void MezoUpdateRoundsExtremeValuesAsTheReferenceRule(DType type)
    {
        float[] specials = type == DType.F16
            ? [3e-5f, -1e-6f, 6e-8f, -2e-8f, 0f, -0f, 60000f, -65000f, 6.1e-5f, 1e-3f]
            : [1e-39f, -3e-40f, 0f, -0f, 3e38f, -1e-30f, 1.5f, -2e-38f];
        const int length = 4099;
        var values = Enumerable.Range(0, length).Select(i => i % 7 == 0 ? specials[i / 7 % specials.Length] : InitialValues(length)[i]).ToArray();
        using var backend = new CpuBackend();
        using var w = backend.Allocate(new TensorShape(length), type, MemoryCategory.Weights, "w");
        Write(w, values);
        float[] before = Read(w);
        var factors = new UpdateFactors(Decay: 1f, Step: 1e-7f);

        backend.MezoUpdate(w, new TensorNoise(Seed, 5), factors);

        var expected = new float[length];
        for (int i = 0; i < length; i++)
            expected[i] = ReferenceRounding.Round(before[i] * factors.Decay - factors.Step * GaussianNoise.Z(Seed, 5 + (ulong)i), type, Seed, 5 + (ulong)i);
        AssertBitsEqual(Read(w), expected, type);
    }

    [TestCase(DType.BF16)]
    [TestCase(DType.F16)]
    [TestCase(DType.F32)]
    public void AnUpdateWithLearningRateZeroLeavesEveryBitAsItWas(DType type)
    {
        using var backend = new CpuBackend();
        using var weights = WeightsWithSentinels(backend, type, 100_003, out Tensor view);
        var bits = new byte[weights.ByteCount];
        backend.Download(weights, 0, bits);

        for (ulong step = 0; step < 20; step++)
            backend.MezoUpdate(view, new TensorNoise(Seed + step, 3), UpdateFactors.For(learningRate: 0, weightDecay: 0.1, projectedGradient: 123.0));

        var after = new byte[weights.ByteCount];
        backend.Download(weights, 0, after);
        Assert.That(after, Is.EqualTo(bits));
    }

    /// <summary>
    /// The stored values' mean equals the float32 results' mean: stochastic rounding is unbiased. Weights all at 1 (a
    /// BF16 ulp of 2⁻⁷ just above, 2⁻⁸ below) moved by η·g·z of about 0.05 ulp. Over N elements the mean of the
    /// rounding errors has standard deviation σ = sqrt(Σ p(1−p)·ulp²)/N; the test allows 5σ, while round-to-nearest
    /// would keep every weight at 1 and miss the mean shift by about 10σ.
    /// </summary>
    [TestCase(DType.BF16)]
    [TestCase(DType.F16)]
    public void StochasticRoundingIsUnbiasedEvenFarBelowHalfAnUlp(DType type)
    {
        const int n = 400_000;
        using var backend = new CpuBackend();
        using var w = backend.Allocate(new TensorShape(n), type, MemoryCategory.Weights, "w");
        Write(w, Enumerable.Repeat(1f, n).ToArray());
        float ulp = type == DType.BF16 ? 1f / 128 : 1f / 1024;
        var factors = new UpdateFactors(Decay: 1f, Step: 0.05f * ulp);

        backend.MezoUpdate(w, new TensorNoise(Seed, 0), factors);

        float[] stored = Read(w);
        double errorSum = 0, variance = 0;
        int moved = 0;
        for (int i = 0; i < n; i++)
        {
            float v = 1f - factors.Step * GaussianNoise.Z(Seed, (ulong)i);
            errorSum += stored[i] - (double)v;
            var (a, b) = ReferenceRounding.Neighbours(v, type);
            double p = a == b ? 0 : (v - a) / (b - a);
            variance += p * (1 - p) * (b - a) * (b - a);
            if (stored[i] != 1f) moved++;
        }
        double meanError = errorSum / n, sigma = Math.Sqrt(variance) / n;
        double meanShift = Enumerable.Range(0, n).Average(i => (double)factors.Step * GaussianNoise.Z(Seed, (ulong)i));
        Assert.That(Math.Abs(meanError), Is.LessThan(5 * sigma), $"mean rounding error {meanError:G3}, σ {sigma:G3}");
        Assert.That(moved, Is.GreaterThan(n / 100), "a twentieth of an ulp must still move some weights");
        Assert.That(sigma, Is.GreaterThan(0));
        TestContext.Out.WriteLine($"{type}: {moved} of {n} moved; mean error {meanError:G3} (σ {sigma:G3}); the float32 mean moved {meanShift:G3}");
    }

    [TestCase(DType.BF16, 3.3e38f)]
    [TestCase(DType.F16, 65000f)]
    public void AnUpdateBeyondTheLargestFiniteValueIsAnErrorNamingTheTensor(DType type, float large)
    {
        using var backend = new CpuBackend();
        using var w = backend.Allocate(new TensorShape(3), type, MemoryCategory.Weights, "model.layers.0.mlp.up_proj.weight");
        Write(w, [1f, large, -2f]);
        Assert.That(() => backend.MezoUpdate(w, new TensorNoise(Seed, 0), new UpdateFactors(Decay: 1.5f, Step: 0f)),
            Throws.InstanceOf<OverflowException>().With.Message.Contains("model.layers.0.mlp.up_proj.weight"));
    }

    /// <summary>
    /// The packed product with z added in its panels equals the plain product of a float32 weight holding
    /// fl(w + fl(scale·z)), bit for bit (the same sums in the same order), for each of two streams: 700 rows span three
    /// row blocks, K = 300 two k blocks, N = 70 a partial panel; both storage layouts; F32 and BF16 weights.
    /// </summary>
    [TestCase(DType.F32, false, 700)]
    [TestCase(DType.BF16, false, 700)]
    [TestCase(DType.BF16, true, 700)]
    [TestCase(DType.F32, true, 5)]
    public void PerturbedLinearEqualsTheLinearOfTheMaterialisedWeightBitForBit(DType type, bool transposed, int m)
    {
        const int k = 300, n = 70;
        const ulong first = 13;
        float[] scales = [3e-3f, -3e-3f];
        using var backend = new CpuBackend();
        int[] shape = transposed ? [k, n] : [n, k];
        using var weight = backend.Allocate(new TensorShape(shape), type, MemoryCategory.Weights, "w");
        Write(weight, InitialValues(n * k).Select(v => ScalarConversions.RoundTo(type, v)).ToArray());
        float[] stored = Read(weight);
        var inputs = new Tensor[2];
        var outputs = new Tensor[2];
        var biases = new Tensor?[2];
        try
        {
            for (int s = 0; s < 2; s++)
            {
                inputs[s] = backend.Allocate(new TensorShape(m, k), DType.F32, MemoryCategory.Activations, $"x{s}");
                Write(inputs[s], InitialValues(m * k + s)[..(m * k)]);
                outputs[s] = backend.Allocate(new TensorShape(m, n), DType.F32, MemoryCategory.Activations, $"y{s}");
                biases[s] = backend.Allocate(new TensorShape(n), DType.F32, MemoryCategory.Activations, $"b{s}");
                Write(biases[s]!, InitialValues(n + 7 * s)[..n]);
            }
            backend.PerturbedLinear(weight, transposed, new TensorNoise(Seed, first), scales, inputs, biases, outputs);

            using var materialised = backend.Allocate(new TensorShape(shape), DType.F32, MemoryCategory.Weights, "m");
            using var expected = backend.Allocate(new TensorShape(m, n), DType.F32, MemoryCategory.Activations, "e");
            for (int s = 0; s < 2; s++)
            {
                Write(materialised, stored.Select((w, j) => w + scales[s] * GaussianNoise.Z(Seed, first + (ulong)j)).ToArray());
                backend.Linear(inputs[s], materialised, transposed, biases[s], expected);
                AssertBitsEqual(Read(outputs[s]), Read(expected), DType.F32);
            }
        }
        finally
        {
            foreach (var t in inputs.Concat(outputs).Concat(biases)) t?.Dispose();
        }
    }

    /// <summary>
    /// With 16-bit activations the perturbed product multiplies θ ± εz rounded to the weight's dtype when the activations
    /// share it (IBackend.PerturbedLinear), and the float32 θ ± εz otherwise: each equals, bit for bit, the plain product
    /// of a weight holding exactly that (the rounding here is the test's own), written to the 16-bit output once.
    /// </summary>
    [TestCase(DType.BF16, DType.BF16, false, 700)]
    [TestCase(DType.F16, DType.F16, true, 5)]
    [TestCase(DType.F32, DType.BF16, false, 9)]
    [TestCase(DType.BF16, DType.F16, false, 9)]
    public void PerturbedLinearOnSixteenBitActivationsMultipliesTheWeightItsRuleNames(DType type, DType activations, bool transposed, int m)
    {
        const int k = 300, n = 70;
        const ulong first = 5;
        float[] scales = [3e-3f, -3e-3f];
        bool rounds = type == activations;
        using var backend = new CpuBackend();
        int[] shape = transposed ? [k, n] : [n, k];
        using var weight = backend.Allocate(new TensorShape(shape), type, MemoryCategory.Weights, "w");
        Write(weight, InitialValues(n * k));
        float[] stored = Read(weight);
        var tensors = new List<Tensor>();
        Tensor Make(string name, DType dtype, float[] values, params int[] dims)
        {
            var t = backend.Allocate(new TensorShape(dims), dtype, MemoryCategory.Activations, name);
            tensors.Add(t);
            Write(t, values);
            return t;
        }
        try
        {
            var inputs = new[] { Make("x0", activations, InitialValues(m * k), m, k), Make("x1", activations, InitialValues(m * k + 1)[..(m * k)], m, k) };
            var outputs = new[] { Make("y0", activations, new float[m * n], m, n), Make("y1", activations, new float[m * n], m, n) };
            var bias = Make("b", DType.F32, InitialValues(n), n);
            backend.PerturbedLinear(weight, transposed, new TensorNoise(Seed, first), scales, inputs, [bias, bias], outputs);

            for (int s = 0; s < 2; s++)
            {
                float[] perturbed = stored.Select((w, j) => w + scales[s] * GaussianNoise.Z(Seed, first + (ulong)j)).ToArray();
                if (rounds) perturbed = perturbed.Select(v => Tests.Reference.ReferenceRounding.Round(type, v)).ToArray();
                var materialised = Make("m", rounds ? type : DType.F32, perturbed, shape);
                var expected = Make("e", activations, new float[m * n], m, n);
                backend.Linear(inputs[s], materialised, transposed, bias, expected);
                AssertBitsEqual(Read(outputs[s]), Read(expected), activations);
            }
        }
        finally
        {
            foreach (var t in tensors) t.Dispose();
        }
    }

    [Test]
    public void PerturbedEmbeddingEqualsAPlainLoopOverTheGatheredRows()
    {
        using var backend = new CpuBackend();
        using var table = backend.Allocate(new TensorShape(11, 37), DType.BF16, MemoryCategory.Weights, "table");
        float[] values = InitialValues(11 * 37).Select(v => ScalarConversions.RoundTo(DType.BF16, v)).ToArray();
        Write(table, values);
        using var ids = backend.Allocate(new TensorShape(5), DType.I32, MemoryCategory.Activations, "ids");
        int[] idValues = [3, 0, 10, 3, 7];
        backend.Upload<int>(ids, idValues);
        using var output = backend.Allocate(new TensorShape(5, 37), DType.F32, MemoryCategory.Activations, "out");
        float[] start = InitialValues(5 * 37);
        foreach (bool accumulate in new[] { false, true })
        {
            backend.Upload<float>(output, start);
            backend.PerturbedEmbedding(table, new TensorNoise(Seed, 9), 0.25f, ids, output, accumulate);
            var expected = new float[5 * 37];
            for (int n = 0; n < 5; n++)
                for (int c = 0; c < 37; c++)
                {
                    long index = (long)idValues[n] * 37 + c;
                    float perturbed = values[index] + 0.25f * GaussianNoise.Z(Seed, 9 + (ulong)index);
                    expected[n * 37 + c] = accumulate ? start[n * 37 + c] + perturbed : perturbed;
                }
            AssertBitsEqual(Read(output), expected, DType.BF16);
        }
    }

    /// <summary>
    /// A tensor of length + 14 elements holding the test's weights at elements [7, 7 + length) of an inner view, so
    /// that the view starts at an odd element and the sentinels around it reveal a write out of bounds.
    /// </summary>
    private static Tensor WeightsWithSentinels(CpuBackend backend, DType type, int length, out Tensor view)
    {
        var whole = backend.Allocate(new TensorShape(length + 2 * SentinelCount), type, MemoryCategory.Weights, "whole");
        float[] values = new float[length + 2 * SentinelCount];
        Array.Fill(values, SentinelValue);
        InitialValues(length).CopyTo(values, SentinelCount);
        Write(whole, values);
        view = whole.View(new TensorShape(length), SentinelCount, "w");
        return whole;
    }

    private const int SentinelCount = 7;
    private const float SentinelValue = -12288f; // 3·2¹², exact in F16 and BF16

    private static void AssertSentinelsUntouched(Tensor whole, DType type, int length)
    {
        float[] all = Read(whole);
        for (int i = 0; i < SentinelCount; i++)
        {
            Assert.That(all[i], Is.EqualTo(SentinelValue), $"{type}: sentinel {i} before the view was written");
            Assert.That(all[SentinelCount + length + i], Is.EqualTo(SentinelValue), $"{type}: sentinel {i} after the view was written");
        }
    }

    /// <summary>Weights of varied magnitude and sign, as trained weights are (0.001 … 2).</summary>
    private static float[] InitialValues(int length)
    {
        var rng = new System.Random(length);
        return Enumerable.Range(0, length)
            .Select(_ => (float)((rng.NextDouble() < 0.5 ? -1 : 1) * Math.Pow(10, -3 + 3.3 * rng.NextDouble())))
            .ToArray();
    }

    private static float[] Read(Tensor t)
    {
        var values = new float[t.ElementCount];
        switch (t.DType)
        {
            case DType.F32:
                t.AsSpan<float>().CopyTo(values);
                break;
            case DType.F16:
                for (int i = 0; i < values.Length; i++) values[i] = ScalarConversions.HalfToSingle(t.AsSpan<ushort>()[i]);
                break;
            case DType.BF16:
                for (int i = 0; i < values.Length; i++) values[i] = ScalarConversions.BFloat16ToSingle(t.AsSpan<ushort>()[i]);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(t), t.DType, "not a weight dtype");
        }
        return values;
    }

    private static void Write(Tensor t, float[] values)
    {
        switch (t.DType)
        {
            case DType.F32:
                values.CopyTo(t.AsSpan<float>());
                break;
            case DType.F16:
                for (int i = 0; i < values.Length; i++) t.AsSpan<ushort>()[i] = ScalarConversions.SingleToHalf(values[i]);
                break;
            case DType.BF16:
                for (int i = 0; i < values.Length; i++) t.AsSpan<ushort>()[i] = ScalarConversions.SingleToBFloat16(values[i]);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(t), t.DType, "not a weight dtype");
        }
    }

    private static void AssertBitsEqual(float[] actual, float[] expected, DType type)
    {
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(actual[i]) != BitConverter.SingleToInt32Bits(expected[i]))
                Assert.Fail($"{type} element {i}: got {actual[i]:R}, expected {expected[i]:R}");
    }
}
