using MeZO.Tests.Common;
using System.Runtime.InteropServices;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Mezo;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda;

/// <summary>
/// DESIGN §6: the kernels' pure device functions (Kernels/philox.cuh, numeric.cuh, stochastic_rounding.cuh,
/// perturbation.cuh), compiled as host C++ by g++, against their C# twins. The GPU runs the same source with the same
/// IEEE operations (float contraction off), so agreement here is agreement of the GPU's arithmetic, checked where no
/// GPU exists.
/// </summary>
[Category("HostKernels")]
[Category(TestSpeed.Slow)]
public class DeviceFunctionTests
{
    private const ulong Seed = 0x9E37_79B9_7F4A_7C15ul;

    // Random123's philox4x32-10 known answers (kat_vectors), as in Philox4x32Tests.
    [TestCase(0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [TestCase(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [TestCase(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void PhiloxMatchesRandom123KnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint x0, uint x1, uint x2, uint x3)
    {
        Assert.That(HostDeviceFunctions.Philox(c0, c1, c2, c3, k0, k1), Is.EqualTo((x0, x1, x2, x3)));
    }

    [Test]
    public void PhiloxMatchesTheCSharpGeneratorOnRandomInputs()
    {
        var random = new Random(4);
        for (int i = 0; i < 2000; i++)
        {
            uint c0 = (uint)random.NextInt64(), c1 = (uint)random.NextInt64(), c2 = (uint)random.NextInt64(), c3 = (uint)random.NextInt64();
            uint k0 = (uint)random.NextInt64(), k1 = (uint)random.NextInt64();
            var expected = Philox4x32.Generate(c0, c1, c2, c3, k0, k1);
            Assert.That(HostDeviceFunctions.Philox(c0, c1, c2, c3, k0, k1), Is.EqualTo((expected.X0, expected.X1, expected.X2, expected.X3)));
        }
    }

    /// <summary>Every distinct u (2^24 of them: x's low 8 bits are dropped): u, ln u and sincos 2πu bit for bit.</summary>
    [Test]
    public void ExactUniformLogAndSinCosMatchBoxMullerForEveryInput()
    {
        var x = Enumerable.Range(0, 1 << 24).Select(k => (uint)k << 8 | 0x5Au).ToArray();
        var u = HostDeviceFunctions.Uniform(x);
        var log = HostDeviceFunctions.LogExact(u);
        var (sin, cos) = HostDeviceFunctions.SinCosExact(x);
        for (int i = 0; i < x.Length; i++)
        {
            if (u[i] != BoxMuller.Uniform(x[i])) Assert.Fail($"u({x[i]:x8}) = {u[i]:R}, C# {BoxMuller.Uniform(x[i]):R}");
            if (log[i] != BoxMuller.Log(u[i])) Assert.Fail($"ln {u[i]:R} = {log[i]:R}, C# {BoxMuller.Log(u[i]):R}");
            var (s, c) = BoxMuller.SinCosTwoPi(x[i]);
            if (sin[i] != s || cos[i] != c) Assert.Fail($"sincos 2π·u({x[i]:x8}) = ({sin[i]:R}, {cos[i]:R}), C# ({s:R}, {c:R})");
        }
    }

    [Test]
    public void ExactZStreamIsBitIdenticalToGaussianNoise()
    {
        // A first index inside a block and a count that ends inside one: every lane position is exercised.
        const ulong first = 1_000_003;
        var expected = new float[1 << 20];
        GaussianNoise.Fill(Seed, first, expected);
        var actual = HostDeviceFunctions.Z(fast: false, Seed, first, expected.Length);
        Assert.That(actual, Is.EqualTo(expected).AsCollection);
    }

    [Test]
    public void ExactBoxMullerMatchesAtTheExtremesOfTheUniforms()
    {
        foreach (uint a in Extremes)
            foreach (uint b in Extremes)
            {
                var expected = BoxMuller.Transform(a, b);
                Assert.That(HostDeviceFunctions.BoxMuller(fast: false, a, b), Is.EqualTo((expected.Z0, expected.Z1)), $"words {a:x8} {b:x8}");
            }
    }

    /// <summary>
    /// The fast (float32) variant against the exact z. Its ln is within a few float ulps of |ln u| (exact integer
    /// reduction, then float steps), so r = sqrt(−2 ln u) is within ~2^-23 relative, and sin/cos within a few 2^-24
    /// absolute; z = r·cos with r ≤ 5.9 then differs by ≤ ~1e-6. DESIGN §3 asks 1e-5.
    /// </summary>
    [Test]
    public void FastZIsWithinOneMillionthOfTheExactZ()
    {
        var exact = HostDeviceFunctions.Z(fast: false, Seed, 5, 1 << 22);
        var fast = HostDeviceFunctions.Z(fast: true, Seed, 5, 1 << 22);
        double worst = exact.Zip(fast, (e, f) => Math.Abs((double)e - f)).Max();
        Assert.That(worst, Is.LessThanOrEqualTo(1e-6));
        foreach (uint a in Extremes)
            foreach (uint b in Extremes)
            {
                var (e0, e1) = BoxMuller.TransformInDouble(a, b);
                var (f0, f1) = HostDeviceFunctions.BoxMuller(fast: true, a, b);
                Assert.That(f0, Is.EqualTo(e0).Within(1e-6), $"z0 of words {a:x8} {b:x8}");
                Assert.That(f1, Is.EqualTo(e1).Within(1e-6), $"z1 of words {a:x8} {b:x8}");
            }
    }

    /// <summary>Every distinct u: fast r = sqrt(−2 ln u) and sincos against the double ones (the components of the bound above).</summary>
    [Test]
    public void FastLogAndSinCosAreAccurateForEveryInput()
    {
        var x = Enumerable.Range(0, 1 << 24).Select(k => (uint)k << 8).ToArray();
        var fastLog = HostDeviceFunctions.LogFast(x);
        var (fastSin, fastCos) = HostDeviceFunctions.SinCosFast(x);
        double worstRadius = 0, worstAngle = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double exactRadius = Math.Sqrt(-2 * BoxMuller.Log(BoxMuller.Uniform(x[i])));
            worstRadius = Math.Max(worstRadius, Math.Abs(Math.Sqrt(-2.0 * fastLog[i]) - exactRadius));
            var (s, c) = BoxMuller.SinCosTwoPi(x[i]);
            worstAngle = Math.Max(worstAngle, Math.Max(Math.Abs(fastSin[i] - s), Math.Abs(fastCos[i] - c)));
        }
        // r ≤ 5.89 (u ≥ 2^-25): a relative 2^-22 is 1.4e-6 absolute at most, far less for typical r; sin/cos in
        // [-1, 1] to a few float ulps of 1.
        Assert.That(worstRadius, Is.LessThan(1.5e-6));
        Assert.That(worstAngle, Is.LessThan(2.5e-7));
    }

    /// <summary>Words whose top 24 bits sit at the edges: u at 2^-25 and 1 − 2^-25, octant boundaries, the middle.</summary>
    private static readonly uint[] Extremes =
        [0x00000000u, 0x000000FFu, 0x00000100u, 0x1FFFFF00u, 0x20000000u, 0x7FFFFFFFu, 0x80000000u, 0xBFFFFF00u, 0xE0000000u, 0xFFFFFF00u, 0xFFFFFFFFu];

    /// <summary>Floats where RNE is delicate: signed zeros, infinities, NaNs with payloads, subnormals, ties, overflow edges.</summary>
    private static float[] SpecialFloats()
    {
        uint[] bits =
        [
            0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FA00000, 0x7FFFFFFF, 0x7F802000,
            0xFF800001, 0x00000001, 0x80000001, 0x007FFFFF, 0x00800000, 0x3F800000, 0x3F808000, 0x3F818000, 0x3F807FFF, 0x3F808001,
            0x7F7FFFFF, 0x7F7F8000, 0x7F7F7FFF, 0x477FE000, 0x477FEFFF, 0x477FF000, 0x477FF001, 0x47800000, 0x38800000, 0x387FFFFF,
            0x387FE000, 0x38000000, 0x33800000, 0x33000000, 0x33000001, 0x32FFFFFF, 0x33C00000, 0x33A00000, 0x34200000, 0x3800_1000,
        ];
        return bits.Select(BitConverter.UInt32BitsToSingle).ToArray();
    }

    /// <summary>A sweep of the float bit space (every 65537th pattern plus the neighbours of each special value).</summary>
    private static float[] FloatSweep() =>
        Enumerable.Range(0, 65537).Select(i => BitConverter.UInt32BitsToSingle((uint)((ulong)i * 65537 * 997 % 0x1_0000_0000)))
            .Concat(SpecialFloats().SelectMany(f =>
            {
                uint b = BitConverter.SingleToUInt32Bits(f);
                return new[] { b - 1, b, b + 1 }.Select(BitConverter.UInt32BitsToSingle);
            }))
            .ToArray();

    [Test]
    public void BFloat16RoundingMatchesScalarConversions()
    {
        var values = FloatSweep();
        var actual = HostDeviceFunctions.FloatToBFloat16(values);
        for (int i = 0; i < values.Length; i++)
            Assert.That(actual[i], Is.EqualTo(ScalarConversions.SingleToBFloat16(values[i])),
                $"bf16({BitConverter.SingleToUInt32Bits(values[i]):x8})");
    }

    [Test]
    public void HalfRoundingMatchesScalarConversions()
    {
        var values = FloatSweep();
        var actual = HostDeviceFunctions.FloatToHalf(values);
        for (int i = 0; i < values.Length; i++)
            Assert.That(actual[i], Is.EqualTo(ScalarConversions.SingleToHalf(values[i])),
                $"f16({BitConverter.SingleToUInt32Bits(values[i]):x8})");
    }

    /// <summary>All 65536 patterns of each 16-bit type widen to the same float bits (NaN payloads included).</summary>
    [Test]
    public void EverySixteenBitPatternWidensAsScalarConversions()
    {
        var patterns = Enumerable.Range(0, 1 << 16).Select(i => (ushort)i).ToArray();
        var bf16 = HostDeviceFunctions.BFloat16ToFloat(patterns);
        var f16 = HostDeviceFunctions.HalfToFloat(patterns);
        for (int i = 0; i < patterns.Length; i++)
        {
            Assert.That(BitConverter.SingleToUInt32Bits(bf16[i]), Is.EqualTo(BitConverter.SingleToUInt32Bits(ScalarConversions.BFloat16ToSingle(patterns[i]))), $"bf16 {i:x4}");
            Assert.That(BitConverter.SingleToUInt32Bits(f16[i]), Is.EqualTo(BitConverter.SingleToUInt32Bits(ScalarConversions.HalfToSingle(patterns[i]))), $"f16 {i:x4}");
        }
    }

    // Index math: the blocks a tensor at global indices [first, first + n) touches, counted by hand.
    [TestCase(0ul, 1ul, 1ul)]
    [TestCase(0ul, 4ul, 1ul)]
    [TestCase(0ul, 5ul, 2ul)]
    [TestCase(3ul, 1ul, 1ul)]
    [TestCase(3ul, 2ul, 2ul)]   // indices 3, 4: blocks 0 and 1
    [TestCase(1ul, 7ul, 2ul)]   // 1..7: blocks 0, 1
    [TestCase(2ul, 7ul, 3ul)]   // 2..8: blocks 0, 1, 2
    [TestCase(0ul, 0ul, 0ul)]
    [TestCase((1ul << 34) + 3, 6ul, 3ul)]
    public void BlockCountCoversExactlyTheTouchedBlocks(ulong first, ulong n, ulong blocks)
    {
        Assert.That(HostDeviceFunctions.BlockCount(first, n), Is.EqualTo(blocks));
    }

    /// <summary>
    /// The perturbed-copy kernels' per-thread body (Kernels/perturbation.cuh: index math, 16-bit unpacking, vector and
    /// scalar paths) against CpuBackend.PerturbedCopy, bit for bit with exact z.
    /// </summary>
    [TestCaseSource(nameof(Layouts))]
    public void PerturbedCopyBodyMatchesTheCpuBackendBitForBit(DType type, int n, ulong first)
    {
        using var cpu = new CpuBackend();
        using var weight = cpu.Allocate(new TensorShape(n), type, MemoryCategory.Weights, "w");
        Write(weight, Initial(n));
        using var copy = cpu.Allocate(new TensorShape(n), DType.F32, MemoryCategory.Activations, "copy");
        cpu.PerturbedCopy(weight, new TensorNoise(Seed, first), 2e-3f, copy);
        var expected = new float[n];
        cpu.Download<float>(copy, expected);
        foreach (bool vectorized in new[] { false, true })
        {
            using var w = new BlockAlignedBuffer(n, type.SizeOf(), first);
            using var destination = new BlockAlignedBuffer(n, sizeof(float), first);
            Bytes(weight).CopyTo(w.Bytes);
            HostDeviceFunctions.PerturbedCopy(type, false, w.Bytes, destination.Floats, n, first, Seed, 2e-3f, vectorized);
            Assert.That(destination.Floats.ToArray(), Is.EqualTo(expected).AsCollection, $"vector path {vectorized}");
        }
    }

    /// <summary>
    /// The update kernels' per-thread body (z, the rounding draws, stochastic rounding, 16-bit packing, vector and scalar
    /// paths) against CpuBackend.MezoUpdate, bit for bit with exact z: an update of a fraction of an ulp (rounding decides
    /// most 16-bit elements) and one of several ulps.
    /// </summary>
    [TestCaseSource(nameof(Layouts))]
    public void UpdateBodyMatchesTheCpuBackendBitForBit(DType type, int n, ulong first)
    {
        using var cpu = new CpuBackend();
        foreach (var factors in new[] { UpdateFactors.For(1e-4, 0.1, 3.7), UpdateFactors.For(1e-2, 0.1, -50) })
            foreach (bool vectorized in new[] { false, true })
            {
                using var weight = cpu.Allocate(new TensorShape(n), type, MemoryCategory.Weights, "w");
                Write(weight, Initial(n));
                using var w = new BlockAlignedBuffer(n, type.SizeOf(), first);
                Bytes(weight).CopyTo(w.Bytes);
                cpu.MezoUpdate(weight, new TensorNoise(Seed, first), factors);
                var overflow = HostDeviceFunctions.Update(type, false, w.Bytes, n, first, Seed, factors.Decay, factors.Step, vectorized);
                Assert.That(overflow, Is.Null);
                Assert.That(w.Bytes.ToArray(), Is.EqualTo(Bytes(weight)).AsCollection, $"{factors}, vector path {vectorized}");
            }
    }

    /// <summary>
    /// Where the CPU throws (a result beyond the largest finite value), the body reports the first such element and its
    /// result, leaves it (and every other overflowing one) as it was, and stores the rest.
    /// </summary>
    [TestCase(DType.F16, 65504f)]
    [TestCase(DType.BF16, 3.38e38f)]
    public void UpdateBodyReportsTheFirstOverflowingElement(DType type, float near)
    {
        using var cpu = new CpuBackend();
        float[] initial = [1f, near, -near, 2f];
        var factors = new UpdateFactors(Decay: 1.5f, Step: 0f);
        using var weight = cpu.Allocate(new TensorShape(4), type, MemoryCategory.Weights, "huge");
        Write(weight, initial);
        var before = Bytes(weight);
        var error = Assert.Throws<OverflowException>(() => cpu.MezoUpdate(weight, new TensorNoise(Seed, 0), factors))!;
        Assert.That(error.Message, Does.Contain("'huge'"));
        foreach (bool vectorized in new[] { false, true })
        {
            using var w = new BlockAlignedBuffer(4, type.SizeOf(), 0);
            before.CopyTo(w.Bytes);
            var overflow = HostDeviceFunctions.Update(type, false, w.Bytes, 4, 0, Seed, factors.Decay, factors.Step, vectorized);
            float widened = type == DType.F16 ? ScalarConversions.HalfToSingle(ScalarConversions.SingleToHalf(near))
                : ScalarConversions.BFloat16ToSingle(ScalarConversions.SingleToBFloat16(near));
            Assert.That(overflow, Is.EqualTo(((long, float)?)(1L, widened * 1.5f)), $"vector path {vectorized}");
            var stored = MemoryMarshal.Cast<byte, ushort>(w.Bytes).ToArray();
            var original = MemoryMarshal.Cast<byte, ushort>(before).ToArray();
            Assert.That(stored[1..3], Is.EqualTo(original[1..3]), "the overflowing elements are left as they were");
            Assert.That(new[] { stored[0], stored[3] }, Is.EqualTo(new[] { Bits(type, 1.5f), Bits(type, 3f) }), "the others are stored");
        }
    }

    [Test]
    public void RoundingDrawsMatchStochasticRoundingDraw()
    {
        foreach (ulong first in new[] { 0ul, 3ul, (1ul << 34) + 1 })
        {
            var actual = HostDeviceFunctions.RoundingDraws(Seed, first, 1029);
            for (int i = 0; i < actual.Length; i++)
                Assert.That(actual[i], Is.EqualTo(StochasticRounding.Draw(Seed, first + (ulong)i)), $"element {first + (ulong)i}");
        }
    }

    /// <summary>
    /// mezo_round_stochastic (Kernels/stochastic_rounding.cuh) against StochasticRounding.Round, the one scalar
    /// definition: the stored bits, or an overflow where the C# throws, for random values and bit patterns, exactly
    /// representable values, signed zeros, the dtype's subnormals and the values below them, the edge of its finite
    /// range, infinities and NaNs, each with both signs; and draws 0, 1, 2^23, 2^24 − 2, 2^24 − 1, random ones and those
    /// on either side of the value's threshold (v − a)/(b − a)·2^24, where a double's last bit decides.
    /// </summary>
    [TestCase(DType.F16)]
    [TestCase(DType.BF16)]
    public void StochasticRoundingMatchesTheScalarDefinition(DType type)
    {
        var random = new Random(type == DType.F16 ? 16 : 17);
        var values = new List<float>();
        var draws = new List<uint>();
        foreach (float v in RoundingValues(type, random))
            foreach (uint k in RoundingDraws(type, v, random))
            {
                values.Add(v);
                draws.Add(k);
            }
        var actual = HostDeviceFunctions.RoundStochastic(type, values.ToArray(), draws.ToArray());
        for (int i = 0; i < values.Count; i++)
        {
            ushort? expected;
            try
            {
                expected = StochasticRounding.Round(values[i], type, draws[i]);
            }
            catch (OverflowException)
            {
                expected = null;
            }
            if (actual[i] != expected)
                Assert.Fail($"{type} round({BitConverter.SingleToUInt32Bits(values[i]):x8} = {values[i]:R}, k {draws[i]}): " +
                            $"{Describe(actual[i])}, C# {Describe(expected)}");
        }
        Assert.That(values.Count, Is.GreaterThan(50_000), "cases compared");
    }

    private static string Describe(ushort? bits) => bits is { } b ? $"{b:x4}" : "overflow";

    private static IEnumerable<float> RoundingValues(DType type, Random random)
    {
        var values = new List<float> { 0f, 1f, 1e-45f, 1e-10f, float.MaxValue, float.PositiveInfinity };
        for (int i = 0; i < 2000; i++)
            values.Add((float)(random.NextDouble() * 2 - 1) * MathF.Pow(10, random.Next(-12, 6))); // random magnitudes
        for (int i = 0; i < 2000; i++)
            values.Add(BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32))); // any float, NaNs included
        for (int i = 0; i < 1000; i++)
            values.Add(Widen(type, (ushort)random.Next(0, 1 << 16))); // exactly representable (and 16-bit NaNs, infinities)
        if (type == DType.F16)
        {
            // Subnormal halves m·2^-24, between them, below the smallest, and the smallest normals 2^-14.
            for (int m = 0; m < 1024; m += 7)
                foreach (double fraction in new[] { 0, 0.25, 0.5, 0.75, 1e-3 })
                    values.Add((float)((m + fraction) * Math.Pow(2, -24)));
            values.AddRange([MathF.Pow(2, -25), MathF.Pow(2, -26), MathF.Pow(2, -14), BitConverter.UInt32BitsToSingle(0x387FFFFF),
                BitConverter.UInt32BitsToSingle(0x38800001)]);
            // The edge of the finite range: 65504 is the largest half, 65520 and up round to infinity.
            values.AddRange([65472f, 65488f, 65503.99f, 65504f, 65504.004f, 65519.99f, 65520f, 65535.99f, 65536f, 1e6f]);
        }
        else
        {
            // bf16 subnormals are float subnormals: the smallest (0x0001), between, the largest, the smallest normal.
            values.AddRange(new uint[] { 0x00000001, 0x00008000, 0x00010000, 0x00018000, 0x0001FFFF, 0x007F0000, 0x007F8000, 0x007FFFFF,
                0x00800000, 0x0080FFFF }.Select(BitConverter.UInt32BitsToSingle));
            for (int i = 0; i < 200; i++) values.Add(BitConverter.UInt32BitsToSingle((uint)random.Next(1, 0x0080_0000)));
            // The edge of the finite range: 0x7F7F is the largest bf16; anything above it brackets with infinity.
            values.AddRange(new uint[] { 0x7F7E0000, 0x7F7E8000, 0x7F7EFFFF, 0x7F7F0000, 0x7F7F0001, 0x7F7F8000, 0x7F7FFFFF }
                .Select(BitConverter.UInt32BitsToSingle));
        }
        values.AddRange(new uint[] { 0x7FC00000, 0x7F800001, 0x7FA00000, 0x7FFFFFFF, 0x7F802000 }.Select(BitConverter.UInt32BitsToSingle));
        return values.Concat(values.Select(v => -v));
    }

    private static IEnumerable<uint> RoundingDraws(DType type, float v, Random random)
    {
        const uint top = (1u << 24) - 1;
        var draws = new List<uint> { 0, 1, 1u << 23, top - 1, top };
        for (int i = 0; i < 3; i++) draws.Add((uint)random.Next(0, 1 << 24));
        if (float.IsFinite(v))
        {
            var (a, b) = StochasticRounding.Bracket(v, type);
            double lower = Widen(type, a), upper = Widen(type, b);
            if (a != b && double.IsFinite(lower) && double.IsFinite(upper))
            {
                double threshold = Math.Floor(((double)v - lower) / (upper - lower) * (1 << 24));
                for (double k = threshold - 1; k <= threshold + 1; k++)
                    if (k >= 0 && k <= top) draws.Add((uint)k);
            }
        }
        return draws;
    }

    private static float Widen(DType type, ushort bits) =>
        type == DType.F16 ? ScalarConversions.HalfToSingle(bits) : ScalarConversions.BFloat16ToSingle(bits);

    private static ushort Bits(DType type, float v) =>
        type == DType.F16 ? ScalarConversions.SingleToHalf(v) : ScalarConversions.SingleToBFloat16(v);

    /// <summary>Lengths 1 to 1029, first indices mid-block and past 2^34 (the counter's high word).</summary>
    private static readonly object[] Layouts =
    [
        new object[] { DType.F32, 1, 0ul }, new object[] { DType.F32, 17, 3ul }, new object[] { DType.F16, 129, 1ul },
        new object[] { DType.BF16, 1029, 2ul }, new object[] { DType.BF16, 3, (1ul << 34) + 1 }, new object[] { DType.F16, 64, 0ul },
        new object[] { DType.F32, 1029, 1_000_003ul },
    ];

    /// <summary>Weights of a typical scale (0.05), with both signs.</summary>
    private static float[] Initial(int n) => Enumerable.Range(0, n).Select(i => (float)Math.Sin(i * 0.37) * 0.05f).ToArray();

    /// <summary>
    /// A host buffer of n elements placed as the kernels' launcher requires for the vector path: the first whole Philox
    /// block of a tensor at z index <c>first</c> starts (4 − first % 4) % 4 elements in, on a 4-element boundary.
    /// </summary>
    private sealed unsafe class BlockAlignedBuffer : IDisposable
    {
        private readonly byte* _allocation;
        private readonly int _bytes, _offset;

        public BlockAlignedBuffer(int n, int size, ulong first)
        {
            int head = (int)((4 - first % 4) % 4);
            _offset = (4 - head) % 4 * size;
            _bytes = n * size;
            _allocation = (byte*)NativeMemory.AlignedAlloc((nuint)(_offset + _bytes), 64);
        }

        public Span<byte> Bytes => new(_allocation + _offset, _bytes);

        public Span<float> Floats => MemoryMarshal.Cast<byte, float>(Bytes);

        public void Dispose() => NativeMemory.AlignedFree(_allocation);
    }

    private static void Write(Tensor t, float[] values)
    {
        switch (t.DType)
        {
            case DType.F32: t.Backend.Upload<float>(t, values); break;
            case DType.F16: t.Backend.Upload<ushort>(t, values.Select(ScalarConversions.SingleToHalf).ToArray()); break;
            default: t.Backend.Upload<ushort>(t, values.Select(ScalarConversions.SingleToBFloat16).ToArray()); break;
        }
    }

    private static byte[] Bytes(Tensor t)
    {
        var bytes = new byte[t.ByteCount];
        t.Backend.Download<byte>(t, bytes);
        return bytes;
    }
}
