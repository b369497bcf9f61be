using MeZO.Engine.Adapters;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Models;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Adapters;

/// <summary>
/// PEFT's LoRA initialisation (AdapterInit, LoraAdapter.InitializeAsPeft): B = 0 so the adapted model starts as the
/// base, A ~ U(−b, b) with b = 1/√in (Kaiming-uniform with a = √5), each element a pure function of (seed, index).
/// </summary>
[TestFixture]
public sealed class LoraInitTests
{
    private const int Rank = 8;

    private sealed class Setup : IDisposable
    {
        public Setup(TinyVariant variant = TinyVariant.LlamaUntied)
        {
            Checkpoint = TinyCheckpoints.Create(variant);
            Backend = new CpuBackend();
            Model = Transformer.Load(Checkpoint.Folder, Backend);
        }

        public TinyCheckpoint Checkpoint { get; }
        public CpuBackend Backend { get; }
        public Transformer Model { get; }

        public LoraAdapter Initialized(ulong seed, DType type = DType.F32)
        {
            var adapter = LoraAdapter.Create(Model, new LoraConfig(Rank, 16, LoraReference.AllProjections(Checkpoint.ModelType)), type);
            adapter.InitializeAsPeft(seed);
            return adapter;
        }

        public void Dispose()
        {
            Model.Dispose();
            Backend.Dispose();
            Checkpoint.Dispose();
        }
    }

    private static float[] Floats(Tensor t)
    {
        var values = new float[t.ElementCount];
        t.Backend.Download<float>(t, values);
        return values;
    }

    private static IEnumerable<(LoraModule Module, float[] A, double Bound)> As(Setup s, LoraAdapter adapter) =>
        adapter.Modules.Select(m => (m, Floats(m.A), 1 / Math.Sqrt(LoraReference.Features(s.Checkpoint, m.Path).In)));

    [Test]
    public void AIsWithinTheKaimingBoundAndBIsZero()
    {
        using var s = new Setup();
        using var adapter = s.Initialized(seed: 42);
        foreach (var (module, a, bound) in As(s, adapter))
        {
            // U(−b, b) as torch's uniform_ draws it: [−b, b), each value rounded to float32 once.
            float b = (float)bound;
            Assert.That(a.Min(), Is.GreaterThanOrEqualTo(-b), module.NameA);
            Assert.That(a.Max(), Is.LessThanOrEqualTo(b), module.NameA);
            Assert.That(a.Distinct().Count(), Is.GreaterThan(a.Length * 9 / 10), $"{module.NameA}: values are spread, not repeated");
            Assert.That(LoraReference.StoredBytes(module.B), Is.All.EqualTo(0), module.NameB);
        }
    }

    [Test]
    public void AHasTheMeanAndVarianceOfTheUniformDistribution()
    {
        using var s = new Setup();
        using var adapter = s.Initialized(seed: 7);
        // a/b ~ U(−1, 1): mean 0 (variance of the mean 1/(3n)), second moment 1/3 (variance of its mean (1/5 − 1/9)/n).
        var scaled = As(s, adapter).SelectMany(x => x.A.Select(v => v / x.Bound)).ToArray();
        int n = scaled.Length;
        Assert.That(n, Is.GreaterThan(3000));
        Assert.That(scaled.Average(), Is.EqualTo(0).Within(5 * Math.Sqrt(1.0 / (3 * n))));
        Assert.That(scaled.Average(x => x * x), Is.EqualTo(1.0 / 3).Within(5 * Math.Sqrt((1.0 / 5 - 1.0 / 9) / n)));
        // Quarters of the interval equally filled: a lumped or one-sided draw fails even with the right two moments.
        var quarters = new int[4];
        foreach (double x in scaled) quarters[Math.Clamp((int)Math.Floor((x + 1) * 2), 0, 3)]++;
        foreach (int q in quarters) Assert.That(q, Is.EqualTo(n / 4.0).Within(5 * Math.Sqrt(n * 0.25 * 0.75)), string.Join(", ", quarters));
    }

    [Test]
    public void TheSameSeedGivesTheSameAAndAnotherSeedAnotherA()
    {
        using var s = new Setup();
        using var first = s.Initialized(seed: 3);
        using var again = s.Initialized(seed: 3);
        using var other = s.Initialized(seed: 4);
        for (int i = 0; i < first.Modules.Count; i++)
        {
            var a = Floats(first.Modules[i].A);
            Assert.That(Floats(again.Modules[i].A), Is.EqualTo(a), first.Modules[i].NameA);
            var b = Floats(other.Modules[i].A);
            Assert.That(a.Where((v, j) => v != b[j]).Count(), Is.GreaterThan(a.Length * 9 / 10), first.Modules[i].NameA);
        }
    }

    [Test]
    public void EachElementIsItsOwnPhiloxDrawInOrdinalNameOrder()
    {
        // The documented stream: element i of the adapter's A tensors (in ordinal PEFT-name order, back to back) is
        // (2u − 1)·b with u = (x0 >> 8)·2⁻²⁴ of Philox((lo i, hi i, "lora", 0), (lo seed, hi seed)). Written here from
        // that text, so modules that restarted or overlapped the stream, or a wrong bound, fail.
        ulong seed = 0x1234_5678_9ABC_DEF0ul;
        using var s = new Setup(TinyVariant.Gpt2);
        using var adapter = s.Initialized(seed);
        ulong index = 0;
        foreach (var (module, a, bound) in As(s, adapter).OrderBy(x => x.Module.NameA, StringComparer.Ordinal))
        {
            for (int j = 0; j < a.Length; j++, index++)
            {
                var x = Philox4x32.Generate((uint)index, (uint)(index >> 32), 0x6C6F7261u, 0, (uint)seed, (uint)(seed >> 32));
                float expected = (float)((2 * ((x.X0 >> 8) / 16777216.0) - 1) * bound);
                if (a[j] != expected) Assert.Fail($"{module.NameA}[{j}] (stream element {index}): {a[j]:R}, expected {expected:R}");
            }
        }
    }

    [Test]
    public void ABfloat16AdapterHoldsTheFloat32ValuesRoundedToNearest()
    {
        using var s = new Setup();
        using var f32 = s.Initialized(seed: 11);
        using var bf16 = s.Initialized(seed: 11, DType.BF16);
        for (int i = 0; i < f32.Modules.Count; i++)
        {
            var expected = Floats(f32.Modules[i].A).Select(ReferenceRounding.BFloat16Bits).ToArray();
            var bits = new ushort[expected.Length];
            s.Backend.Download<ushort>(bf16.Modules[i].A, bits);
            Assert.That(bits, Is.EqualTo(expected), bf16.Modules[i].NameA);
            Assert.That(LoraReference.StoredBytes(bf16.Modules[i].B), Is.All.EqualTo(0));
        }
    }

    [TestCase(TinyVariant.LlamaTied)]
    [TestCase(TinyVariant.Gpt2)]
    [TestCase(TinyVariant.OptPostLayerNorm)]
    public void AFreshlyInitializedAdapterScoresExactlyAsTheBaseModel(TinyVariant variant)
    {
        using var s = new Setup(variant);
        var (batch, rows, targets) = LoraReference.Batch(s.Checkpoint.VocabSize, PaddingSide.Left);
        var plain = ParityRuns.EngineScores(s.Model, batch, rows, targets);
        using var adapter = s.Initialized(seed: 1);
        s.Model.Lora = adapter;
        // B = 0 makes the bypass exactly +0 on every output, and x + 0 = x in floating point.
        Assert.That(ParityRuns.EngineScores(s.Model, batch, rows, targets), Is.EqualTo(plain));
    }
}
