using MeZO.Engine.Backends.Cpu;
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
    public void PerturbEqualsAPlainFloat32LoopBitForBit(DType type, int length, ulong firstIndex)
    {
        const float scale = 1e-3f;
        using var backend = new CpuBackend();
        using var weights = WeightsWithSentinels(backend, type, length, out Tensor view);

        float[] before = Read(view);
        backend.Perturb(view, Seed, firstIndex, scale);

        float[] expected = new float[length];
        for (int i = 0; i < length; i++)
            expected[i] = ScalarConversions.RoundTo(type, before[i] + scale * GaussianNoise.Z(Seed, firstIndex + (ulong)i));
        AssertBitsEqual(Read(view), expected, type);
        AssertSentinelsUntouched(weights, type, length);
    }

    [TestCaseSource(nameof(Cases))]
    public void PerturbUpdateEqualsAPlainFloat32LoopBitForBit(DType type, int length, ulong firstIndex)
    {
        const float eps = 1e-3f, learningRate = 1e-5f, weightDecay = 0.1f, projectedGradient = -2.75f;
        using var backend = new CpuBackend();
        using var weights = WeightsWithSentinels(backend, type, length, out Tensor view);

        float[] before = Read(view);
        backend.PerturbUpdate(view, Seed, firstIndex, eps, learningRate, weightDecay, projectedGradient);

        // The update exactly as the interface states it, one float32 operation at a time, rounded once at the end.
        float decay = 1f - learningRate * weightDecay;
        float step = learningRate * projectedGradient;
        float[] expected = new float[length];
        for (int i = 0; i < length; i++)
        {
            float z = GaussianNoise.Z(Seed, firstIndex + (ulong)i);
            expected[i] = ScalarConversions.RoundTo(type, (before[i] + eps * z) * decay - step * z);
        }
        AssertBitsEqual(Read(view), expected, type);
        AssertSentinelsUntouched(weights, type, length);
    }

    [Test]
    public void PerturbingBackRestoresFloat32WeightsWithinTwoRoundings()
    {
        const int length = 100_003;
        const float scale = 1e-3f;
        using var backend = new CpuBackend();
        using var w = backend.Allocate(new TensorShape(length), DType.F32, MemoryCategory.Weights, "w");
        float[] original = InitialValues(length);
        backend.Upload<float>(w, original);

        backend.Perturb(w, Seed, 5, scale);
        backend.Perturb(w, Seed, 5, -scale);

        float[] restored = Read(w);
        for (int i = 0; i < length; i++)
        {
            // t = fl(w + a), w' = fl(t − a) with a = fl(scale·z) (and −a exactly for −scale): each rounding is off by
            // at most 2⁻²⁴ of its result, so |w' − w| ≤ 2⁻²⁴(|t| + |w'|).
            float a = scale * GaussianNoise.Z(Seed, 5 + (ulong)i);
            float t = original[i] + a;
            double bound = Math.Pow(2, -24) * (Math.Abs(t) + Math.Abs(restored[i]));
            Assert.That(restored[i], Is.EqualTo(original[i]).Within(bound), $"element {i}");
        }
    }

    [Test]
    public void PerturbingBackRestoresBFloat16WeightsWithinTwoBFloat16Roundings()
    {
        const int length = 100_003;
        const float scale = 1e-3f;
        using var backend = new CpuBackend();
        using var w = backend.Allocate(new TensorShape(length), DType.BF16, MemoryCategory.Weights, "w");
        float[] original = InitialValues(length).Select(v => ScalarConversions.RoundTo(DType.BF16, v)).ToArray();
        backend.Upload<ushort>(w, original.Select(ScalarConversions.SingleToBFloat16).ToArray());

        backend.Perturb(w, Seed, 5, scale);
        float[] perturbed = Read(w);
        backend.Perturb(w, Seed, 5, -scale);

        float[] restored = Read(w);
        for (int i = 0; i < length; i++)
        {
            // bfloat16 keeps 8 significant bits, so each store is off by at most 2⁻⁸ of what it stores (the float32
            // arithmetic before it adds 2⁻²⁴ relative, covered by the 1.001): |w' − w| ≤ 2⁻⁸(|t| + |w'|)·1.001.
            double bound = Math.Pow(2, -8) * (Math.Abs(perturbed[i]) + Math.Abs(restored[i])) * 1.001;
            Assert.That(restored[i], Is.EqualTo(original[i]).Within(bound), $"element {i}");
        }
    }

    [Test]
    public void PerturbChangesEveryWeightByScaledNoise()
    {
        // Guards the restore tests against a Perturb that does nothing: with scale 1 on zero weights, w becomes z.
        using var backend = new CpuBackend();
        using var w = backend.Allocate(new TensorShape(1000), DType.F32, MemoryCategory.Weights, "w");

        backend.Perturb(w, Seed, 3, 1f);

        float[] z = new float[1000];
        GaussianNoise.Fill(Seed, 3, z);
        Assert.That(Read(w), Is.EqualTo(z));
        Assert.That(z.Count(v => v == 0f), Is.Zero);
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
