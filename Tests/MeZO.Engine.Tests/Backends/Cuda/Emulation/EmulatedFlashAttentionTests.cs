using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Backends.Cuda.Ops;
using MeZO.Engine.Tensors;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda.Emulation;

/// <summary>
/// The tensor-core attention kernel (flash_attention.cu) on the host emulation, against the CPU backend's float32
/// attention of the same 16-bit values: awkward lengths, GQA, windows, padding on either side and fully padded rows,
/// cached decode, every supported head-dim bucket, bf16 and f16, and non-finite keys and values.
/// </summary>
[Category("HostKernels")]
[Category(TestSpeed.Slow)]
public class EmulatedFlashAttentionTests
{
    public enum Padding
    {
        None,
        /// <summary>Sequence 0 starts with 5 masked slots, sequence 1 with 2: its first queries attend no key at all.</summary>
        Left,
        /// <summary>Sequence 0 ends with 4 masked slots, sequence 1 with 1.</summary>
        Right,
        /// <summary>Sequence 1 is masked entirely: every one of its queries gets zeros.</summary>
        FullyPadded,
    }

    private CpuBackend _cpu = null!;
    private CudaBackend _emulated = null!;

    [OneTimeSetUp]
    public void Open()
    {
        _cpu = new CpuBackend();
        _emulated = new CudaBackend(new EmulatedRuntime(80), new CudaBackendOptions(), new MemoryReport());
    }

    [OneTimeTearDown]
    public void Close()
    {
        _emulated?.Dispose();
        _cpu?.Dispose();
    }

    private static readonly DType[] Types = [DType.BF16, DType.F16];

    /// <summary>(B, T, H, KVH, D, past, window, padding).</summary>
    private static readonly (int Batch, int Length, int Heads, int KvHeads, int HeadDim, int Past, int Window, Padding Padding)[] Shapes =
    [
        (1, 1, 2, 1, 64, 0, 0, Padding.None),
        (1, 3, 2, 1, 64, 0, 0, Padding.None),
        (1, 17, 2, 2, 64, 0, 0, Padding.None),
        (1, 129, 4, 2, 64, 0, 0, Padding.None),
        (1, 1000, 1, 1, 64, 0, 0, Padding.None),
        (1, 1000, 1, 1, 64, 0, 64, Padding.None),
        (1, 129, 2, 1, 64, 0, 1, Padding.None),
        (1, 129, 2, 1, 64, 0, 5, Padding.None),
        (1, 129, 2, 1, 64, 0, 64, Padding.None),
        (2, 17, 2, 1, 64, 0, 0, Padding.Left),
        (2, 17, 2, 1, 64, 0, 0, Padding.Right),
        (2, 17, 2, 1, 64, 0, 5, Padding.Left),
        (2, 17, 2, 2, 64, 0, 0, Padding.FullyPadded),
        (1, 1, 4, 2, 64, 40, 0, Padding.None),
        (2, 3, 4, 2, 64, 40, 0, Padding.Left),
        (1, 1, 2, 1, 64, 100, 16, Padding.None),
        (1, 17, 2, 1, 80, 0, 0, Padding.None),
        (1, 17, 2, 1, 96, 0, 0, Padding.None),
        (2, 70, 2, 1, 128, 5, 0, Padding.Right),
        (1, 17, 2, 1, 256, 0, 0, Padding.None),
        (1, 129, 1, 1, 256, 3, 0, Padding.None),
        (1, 129, 1, 1, 256, 0, 5, Padding.None),
        (2, 40, 2, 1, 192, 0, 0, Padding.Left),
    ];

    private static IEnumerable<TestCaseData> Cases() =>
        from shape in Shapes
        from type in Types
        select new TestCaseData(type, shape.Batch, shape.Length, shape.Heads, shape.KvHeads, shape.HeadDim, shape.Past, shape.Window,
                shape.Padding)
            .SetName($"{type} B{shape.Batch} T{shape.Length} H{shape.Heads}/{shape.KvHeads} D{shape.HeadDim} past {shape.Past} " +
                     $"window {shape.Window} padding {shape.Padding}");

    [TestCaseSource(nameof(Cases))]
    public void MatchesTheCpuBackend(DType type, int batch, int length, int heads, int kvHeads, int headDim, int past, int window,
        Padding padding)
    {
        var problem = Problem.Random(type, batch, length, heads, kvHeads, headDim, past, padding, seed: length * 31 + headDim + past);
        Compare(problem, window);
    }

    /// <summary>
    /// A NaN in one key's K reaches, through its score, exactly the queries that attend that key; a NaN in one key's
    /// V only the output dims it holds, of those queries. Earlier queries (and, with a window, later ones beyond it) stay
    /// finite, as on the CPU: V's NaN must not leak through the P·V product's 0·NaN.
    /// </summary>
    [TestCase(DType.BF16, 0, false)]
    [TestCase(DType.F16, 0, false)]
    [TestCase(DType.BF16, 0, true)]
    [TestCase(DType.F16, 4, true)]
    [TestCase(DType.BF16, 4, false)]
    public void ANonFiniteKeyOrValueReachesOnlyTheQueriesAttendingIt(DType type, int window, bool inValue)
    {
        const int nanKey = 9, nanDim = 7;
        var problem = Problem.Random(type, 1, 17, 2, 1, 64, 0, Padding.None, seed: 5);
        (inValue ? problem.Values : problem.Keys)[nanKey * problem.HeadDim + nanDim] = float.NaN; // batch 0, kv head 0
        var (expected, actual) = Compare(problem, window);

        int attending = 0;
        for (int t = 0; t < problem.Length; t++)
            for (int h = 0; h < problem.Heads; h++)
            {
                bool attends = t >= nanKey && (window <= 0 || t - nanKey < window);
                int row = (t * problem.Heads + h) * problem.HeadDim;
                attending += attends ? 1 : 0;
                for (int d = 0; d < problem.HeadDim; d++)
                {
                    bool nan = attends && (!inValue || d == nanDim);
                    Assert.That(float.IsNaN(actual[row + d]), Is.EqualTo(nan), $"query {t} head {h} dim {d}");
                }
            }
        Assert.That(attending, Is.GreaterThan(0));
        Assert.That(expected.Count(float.IsNaN), Is.EqualTo(actual.Count(float.IsNaN)));
    }

    /// <summary>
    /// The stated numerics, bit for bit, where every step is observable: one query attending one tile of 64 keys whose
    /// scores are the keys' first elements (q = e₀, scale 1: each product and sum exact) and whose values are one-hot
    /// (V[j] = e_j, so output dim j is key j's weight alone). Then out_j = rne(rne16(p_j) · (1 / l)), with p_j =
    /// exp(s_j − max s) in float32 and l summed as the kernel's threads do: lane c adds keys 8n + 2c, 8n + 2c + 1 for n
    /// = 0..7, and the quad adds (l₀ + l₁) + (l₂ + l₃). Weights left unrounded would give other bits.
    /// </summary>
    [TestCase(DType.BF16)]
    [TestCase(DType.F16)]
    public void WeightsAreRoundedToTheDtypeForTheValueProduct(DType type)
    {
        const int keys = 64, headDim = 64;
        var random = new Random(3);
        var scores = Enumerable.Range(0, keys).Select(_ => ScalarConversions.RoundTo(type, (float)(random.NextDouble() * -8))).ToArray();
        var problem = new Problem
        {
            Type = type, Batch = 1, Length = 1, Heads = 1, KvHeads = 1, HeadDim = headDim, Past = keys - 1, Capacity = keys,
            Queries = Enumerable.Range(0, headDim).Select(d => d == 0 ? 1f : 0f).ToArray(),
            Keys = Enumerable.Range(0, keys * headDim).Select(i => i % headDim == 0 ? scores[i / headDim] : 0f).ToArray(),
            Values = Enumerable.Range(0, keys * headDim).Select(i => i % headDim == i / headDim ? 1f : 0f).ToArray(),
            Mask = Enumerable.Repeat(1, keys).ToArray(),
        };

        float max = scores.Max();
        var weights = scores.Select(x => MathF.Exp(x - max)).ToArray();
        var lanes = new float[4];
        for (int c = 0; c < 4; c++)
            for (int n = 0; n < keys / 8; n++)
            {
                lanes[c] += weights[8 * n + 2 * c];
                lanes[c] += weights[8 * n + 2 * c + 1];
            }
        float inverse = 1f / ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]));
        var expected = weights.Select(p => ScalarConversions.RoundTo(type, ScalarConversions.RoundTo(type, p) * inverse)).ToArray();
        var unrounded = weights.Select(p => ScalarConversions.RoundTo(type, p * inverse)).ToArray();

        var actual = problem.Kernel(_emulated, scale: 1f, window: 0);

        Assert.That(actual, Is.EqualTo(expected));
        Assert.That(unrounded, Is.Not.EqualTo(expected), "the case tells rounded weights from unrounded ones");
    }

    /// <summary>Until the op contracts take 16-bit activations, CudaAttention's routing is reached only from here.</summary>
    [Test]
    public void CudaAttentionSends16BitTensorsToThisKernel()
    {
        var problem = Problem.Random(DType.F16, 2, 17, 2, 1, 64, 3, Padding.Left, seed: 9);
        var direct = problem.Kernel(_emulated, 0.125f, 5);
        var (q, k, v, mask, output) = problem.Upload(_emulated);
        using (q) using (k) using (v) using (mask) using (output)
        {
            CudaAttention.Causal(_emulated, q, k, v, mask, problem.Past, 0.125f, 5, output);
            var bits = new ushort[output.ElementCount];
            _emulated.Download<ushort>(output, bits);
            Assert.That(bits.Select(ScalarConversions.HalfToSingle), Is.EqualTo(direct));
        }
    }

    [Test]
    public void OnlyBf16AndF16OfWholeMmaStepsUpTo256AreSupported()
    {
        Assert.That(CudaFlashAttention.Supports(64, DType.BF16) && CudaFlashAttention.Supports(80, DType.F16), Is.True);
        Assert.That(CudaFlashAttention.Supports(256, DType.F16) && CudaFlashAttention.Supports(96, DType.BF16), Is.True);
        Assert.That(CudaFlashAttention.Supports(64, DType.F32), Is.False, "float32 stays with attention.cu");
        Assert.That(CudaFlashAttention.Supports(72, DType.BF16), Is.False, "not a whole mma k-step");
        Assert.That(CudaFlashAttention.Supports(272, DType.BF16), Is.False, "above the register tile");
        Assert.That(CudaFlashAttention.Supports(32, DType.BF16), Is.False, "below the key tile's reuse");
    }

    /// <summary>Compute capability 8.6 and 8.9 give a block at most 99 KiB of shared memory (8.0: 163 KiB, 9.0: 227 KiB).</summary>
    [Test]
    public void EverySupportedHeadDimFitsTheSharedMemoryOfEveryTensorCoreGpu()
    {
        var supported = Enumerable.Range(1, 256).Where(d => CudaFlashAttention.Supports(d, DType.BF16)).ToArray();
        Assert.That(supported, Has.Length.EqualTo(13));
        Assert.That(supported.Select(d => (d, CudaFlashAttention.SharedBytes(d))).Where(x => x.Item2 > 99 * 1024), Is.Empty);
    }

    [Test]
    public void ABeforeAmpereGpuIsToldItCannotRunTheKernel()
    {
        using var turing = new CudaBackend(new EmulatedRuntime(75), new CudaBackendOptions(), new MemoryReport());
        var problem = Problem.Random(DType.BF16, 1, 3, 2, 1, 64, 0, Padding.None, seed: 1);
        var (q, k, v, mask, output) = problem.Upload(turing);
        using (q) using (k) using (v) using (mask) using (output)
        {
            var error = Assert.Throws<NotSupportedException>(() =>
                CudaFlashAttention.Run(turing, q, k, v, mask, 0, 0.125f, 0, output))!;
            Assert.That(error.Message, Does.Contain("compute capability 8.0"));
        }
    }

    /// <summary>
    /// Runs both backends and checks every output element: NaN exactly where the CPU has NaN, elsewhere within the bound
    /// derived from the arithmetic (see <see cref="Tolerance"/>). Returns (CPU rounded to the dtype, kernel).
    /// </summary>
    private (float[] Expected, float[] Actual) Compare(Problem problem, int window)
    {
        float scale = 1f / MathF.Sqrt(problem.HeadDim);
        float[] expected = problem.CpuReference(_cpu, scale, window);
        float[] actual = problem.Kernel(_emulated, scale, window);
        double tolerance = Tolerance(problem, scale);
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsNaN(expected[i]) || float.IsNaN(actual[i]))
            {
                Assert.That(float.IsNaN(actual[i]), Is.EqualTo(float.IsNaN(expected[i])), $"element {i}: {actual[i]} vs CPU {expected[i]}");
                continue;
            }
            Assert.That(Math.Abs(actual[i] - expected[i]), Is.LessThanOrEqualTo(tolerance),
                $"element {i} (query {i / problem.HeadDim / problem.Heads % problem.Length}): {actual[i]} vs CPU {expected[i]}");
        }
        return (expected, actual);
    }

    /// <summary>
    /// The largest difference the kernel's arithmetic allows from the CPU's float32 result, both rounded to the dtype.
    /// Every output is a convex combination of value rows, so each term is a fraction of max|V|:
    ///   u       each weight P rounded to 16 bits: Σ p·δ·v / l with |δ| ≤ u (2^-8 bf16, 2^-11 f16) and Σ p = l;
    ///   n·s     below f16's normal range (p &lt; 2^-14) a weight's error is absolute, at most half the subnormal step
    ///           2^-24, for each of the n keys (l ≥ 1, the row maximum's weight); bf16 shares float32's range (2^-134);
    ///   2u      both outputs rounded once to the dtype, each by at most u·|o| ≤ u·max|V|;
    ///   e^2δ−1  scores: each side's f32 dot of D products is within γ = (D + 1)·2^-24 of exact, relative to
    ///           scale·Σ|q·k| ≤ scale·D·max|q|·max|k| = Smax, so the two differ by δ ≤ 2γ·Smax, which moves every
    ///           normalised weight by a factor within e^±2δ;
    ///   f32     the rest is float32 in a different order: exp on each side (≤ 2 ulp each), its argument s − m
    ///           (2^-24·2·Smax), the sums over n keys of p·v and of p (n·2^-24 each side) and the rescales.
    /// </summary>
    private static double Tolerance(Problem problem, float scale)
    {
        double u = problem.Type == DType.BF16 ? Math.Pow(2, -8) : Math.Pow(2, -11);
        double subnormalHalfStep = problem.Type == DType.BF16 ? Math.Pow(2, -134) : Math.Pow(2, -25);
        double f32 = Math.Pow(2, -24);
        int n = problem.Capacity, d = problem.HeadDim;
        double maxV = problem.Values.Where(float.IsFinite).Select(Math.Abs).DefaultIfEmpty(0).Max();
        double maxQ = problem.Queries.Select(Math.Abs).Max();
        double maxK = problem.Keys.Where(float.IsFinite).Select(Math.Abs).DefaultIfEmpty(0).Max();
        double sMax = scale * d * maxQ * maxK;
        double scores = Math.Exp(2 * 2 * (d + 1) * f32 * sMax) - 1;
        double float32 = (8 + 2 * sMax + 4 * n) * f32;
        return maxV * (u + n * subnormalHalfStep + 2 * u + scores + float32);
    }

    /// <summary>One attention problem: 16-bit values (held widened), the mask, and the shapes.</summary>
    private sealed class Problem
    {
        public required DType Type { get; init; }
        public required int Batch, Length, Heads, KvHeads, HeadDim, Past, Capacity;
        public required float[] Queries, Keys, Values; // (B, T, H, D); (B, Tc, KVH, D) twice
        public required int[] Mask;                   // (B, Tc)

        /// <summary>
        /// Values exactly representable in the dtype; queries in [−2, 2] (a peaked softmax), keys in [−1, 1], values in
        /// [−3, 3]. Three slots beyond the valid past + T hold NaN keys and values (and are unmasked): no backend may read them.
        /// </summary>
        public static Problem Random(DType type, int batch, int length, int heads, int kvHeads, int headDim, int past, Padding padding, int seed)
        {
            var random = new Random(seed);
            int valid = past + length, capacity = valid + 3;
            float[] Fill(int count, float range) =>
                Enumerable.Range(0, count).Select(_ => ScalarConversions.RoundTo(type, (float)(random.NextDouble() * 2 - 1) * range)).ToArray();
            var keys = Fill(batch * capacity * kvHeads * headDim, 1);
            var values = Fill(batch * capacity * kvHeads * headDim, 3);
            var mask = new int[batch * capacity];
            for (int b = 0; b < batch; b++)
            {
                (int left, int right) = padding switch
                {
                    Padding.Left => (b == 0 ? 5 : 2, 0),
                    Padding.Right => (0, b == 0 ? 4 : 1),
                    Padding.FullyPadded => b == 1 ? (valid, 0) : (0, 0),
                    _ => (0, 0),
                };
                for (int j = 0; j < capacity; j++)
                {
                    mask[b * capacity + j] = j >= valid || (j >= left && j < valid - right) ? 1 : 0;
                    if (j < valid) continue;
                    for (int i = 0; i < kvHeads * headDim; i++)
                        keys[(b * capacity + j) * kvHeads * headDim + i] = values[(b * capacity + j) * kvHeads * headDim + i] = float.NaN;
                }
            }
            return new Problem
            {
                Type = type, Batch = batch, Length = length, Heads = heads, KvHeads = kvHeads, HeadDim = headDim, Past = past,
                Capacity = capacity, Queries = Fill(batch * length * heads * headDim, 2), Keys = keys, Values = values, Mask = mask,
            };
        }

        /// <summary>The CPU backend's float32 attention of the same values, rounded to the dtype as the kernel's output is.</summary>
        public float[] CpuReference(CpuBackend cpu, float scale, int window)
        {
            using var q = Widened(cpu, Queries, "q", Batch, Length, Heads, HeadDim);
            using var k = Widened(cpu, Keys, "key cache", Batch, Capacity, KvHeads, HeadDim);
            using var v = Widened(cpu, Values, "value cache", Batch, Capacity, KvHeads, HeadDim);
            using var mask = cpu.Allocate(new TensorShape(Batch, Capacity), DType.I32, MemoryCategory.Activations, "key mask");
            cpu.Upload<int>(mask, Mask);
            using var output = cpu.Allocate(new TensorShape(Batch, Length, Heads, HeadDim), DType.F32, MemoryCategory.Activations, "output");
            cpu.Attention(q, k, v, mask, Past, scale, window, output);
            var result = new float[output.ElementCount];
            cpu.Download<float>(output, result);
            return result.Select(x => ScalarConversions.RoundTo(Type, x)).ToArray();
        }

        /// <summary>The kernel's output, widened; the output starts as NaN so an element it never writes shows.</summary>
        public float[] Kernel(CudaBackend emulated, float scale, int window)
        {
            var (q, k, v, mask, output) = Upload(emulated);
            using (q) using (k) using (v) using (mask) using (output)
            {
                CudaFlashAttention.Run(emulated, q, k, v, mask, Past, scale, window, output);
                var bits = new ushort[output.ElementCount];
                emulated.Download<ushort>(output, bits);
                return bits.Select(b => Type == DType.BF16 ? ScalarConversions.BFloat16ToSingle(b) : ScalarConversions.HalfToSingle(b)).ToArray();
            }
        }

        public (Tensor Q, Tensor Keys, Tensor Values, Tensor Mask, Tensor Output) Upload(CudaBackend backend)
        {
            var q = Narrowed(backend, Queries, "q", Batch, Length, Heads, HeadDim);
            var k = Narrowed(backend, Keys, "key cache", Batch, Capacity, KvHeads, HeadDim);
            var v = Narrowed(backend, Values, "value cache", Batch, Capacity, KvHeads, HeadDim);
            var mask = backend.Allocate(new TensorShape(Batch, Capacity), DType.I32, MemoryCategory.Activations, "key mask");
            backend.Upload<int>(mask, Mask);
            var output = Narrowed(backend, new float[Batch * Length * Heads * HeadDim].Select(_ => float.NaN).ToArray(), "output",
                Batch, Length, Heads, HeadDim);
            return (q, k, v, mask, output);
        }

        private static Tensor Widened(IBackend backend, float[] values, string name, params int[] shape)
        {
            var tensor = backend.Allocate(new TensorShape(shape), DType.F32, MemoryCategory.Activations, name);
            backend.Upload<float>(tensor, values);
            return tensor;
        }

        private Tensor Narrowed(IBackend backend, float[] values, string name, params int[] shape)
        {
            var tensor = backend.Allocate(new TensorShape(shape), Type, MemoryCategory.Activations, name);
            backend.Upload<ushort>(tensor, values.Select(x => Type == DType.BF16 ? ScalarConversions.SingleToBFloat16(x)
                : ScalarConversions.SingleToHalf(x)).ToArray());
            return tensor;
        }
    }
}
