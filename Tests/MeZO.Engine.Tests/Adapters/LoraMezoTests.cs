using MeZO.Engine.Adapters;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;
using UpdateRounding = MeZO.Engine.Tests.Backends.Perturbation.ReferenceRounding;

namespace MeZO.Engine.Tests.Adapters;

/// <summary>
/// MeZO over a LoRA adapter's tensors (TrainableSet.Of): z is indexed over A and B in ordinal PEFT-name order (the
/// offsets computed here from the names and shapes), a perturbed pass computes with fl(θ + fl(ε·z)) for the adapter
/// and the frozen base as stored, the lockstep pair equals two single passes, and an update writes only the adapter,
/// with DESIGN §3's stochastic rounding when the adapter is stored in bfloat16.
/// </summary>
[TestFixture]
public sealed class LoraMezoTests
{
    private const ulong Seed = 0x5EED_0F_10_2A_0000ul;
    private const float Eps = 1e-2f;
    private const int Rank = 8; // every adapter product then has more than four weight rows: one packed-product path on both sides
    private const double Alpha = 16;

    public static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(TinyVariant.LlamaTied, DType.F32, DType.F32).SetName("Llama, F32 base, F32 adapter");
        yield return new TestCaseData(TinyVariant.LlamaUntied, DType.BF16, DType.BF16).SetName("Llama, BF16 base, BF16 adapter");
        yield return new TestCaseData(TinyVariant.Gpt2, DType.F32, DType.BF16).SetName("GPT-2, F32 base, BF16 adapter");
        yield return new TestCaseData(TinyVariant.OptPreLayerNorm, DType.BF16, DType.F32).SetName("OPT, BF16 base, F32 adapter");
    }

    private sealed class Setup : IDisposable
    {
        public Setup(TinyVariant variant, DType baseType, DType adapterType)
        {
            Checkpoint = TinyCheckpoints.Create(variant, new TinyCheckpointOptions { DType = baseType });
            Targets = LoraReference.AllProjections(Checkpoint.ModelType);
            var paths = LoraReference.ModulePaths(Checkpoint.ModelType, Checkpoint.Options.Layers, Targets);
            Values = LoraReference.RandomTensors(Checkpoint, paths, Rank, seed: 4, adapterType);
            Backend = new CpuBackend();
            Model = Transformer.Load(Checkpoint.Folder, Backend);
            Adapter = LoraAdapter.Create(Model, new LoraConfig(Rank, Alpha, Targets), adapterType);
            LoraReference.Upload(Adapter, Values);
            Model.Lora = Adapter;
            // z's first index for each tensor: the adapter's tensors back to back in ordinal name order.
            ulong index = 0;
            foreach (var (name, tensor) in Values)
            {
                FirstIndex[name] = index;
                index += (ulong)tensor.ElementCount;
            }
        }

        public TinyCheckpoint Checkpoint { get; }
        public string[] Targets { get; }
        public SortedDictionary<string, ReferenceTensor> Values { get; }
        public Dictionary<string, ulong> FirstIndex { get; } = [];
        public CpuBackend Backend { get; }
        public Transformer Model { get; }
        public LoraAdapter Adapter { get; }

        public void Dispose()
        {
            Adapter.Dispose();
            Model.Dispose();
            Backend.Dispose();
            Checkpoint.Dispose();
        }
    }

    private static readonly int[][] Sequences = [[5, 9, 2, 31, 7, 11, 3], [8, 1, 4]];
    private static readonly int[] Targets = [9, 2, 31, 7, 11, 3, 1, 4];

    private static int[] Rows(TokenBatch batch) =>
        [batch.Row(0, 0), batch.Row(0, 1), batch.Row(0, 2), batch.Row(0, 3), batch.Row(0, 4), batch.Row(0, 5), batch.Row(1, 0), batch.Row(1, 1)];

    [TestCaseSource(nameof(Cases))]
    public void PerturbedScoresEqualThoseOfAnAdapterSetToThetaPlusEpsZ(TinyVariant variant, DType baseType, DType adapterType)
    {
        using var s = new Setup(variant, baseType, adapterType);
        var model = s.Model;
        var trainable = TrainableSet.Of(s.Adapter.Parameters);
        Assert.That(trainable.Tensors.Select(t => (t.Parameter.Name, t.FirstIndex)), Is.EqualTo(s.FirstIndex.Select(p => (p.Key, p.Value))),
            "z over the adapter in ordinal name order");
        var baseBefore = model.Weights.Parameters.Select(p => LoraReference.StoredBytes(p.Tensor)).ToArray();
        var adapterBefore = s.Adapter.Parameters.Select(p => LoraReference.StoredBytes(p.Tensor)).ToArray();

        var batch = TokenBatch.Pack(Sequences, PaddingSide.Right);
        int[] rows = Rows(batch);
        var plus = new WeightPerturbation(trainable, Seed, Eps);
        var single = new float[rows.Length];
        var singleMinus = new float[rows.Length];
        var lockPlus = new float[rows.Length];
        var lockMinus = new float[rows.Length];
        var unperturbed = new float[rows.Length];
        using (var plusWs = model.CreateWorkspace(batch.BatchSize, 8))
        using (var minusWs = model.CreateLockstepWorkspace(batch.BatchSize, 8))
        {
            model.ScoreTokens(plusWs, batch, rows, Targets, single, plus);
            model.ScoreTokens(plusWs, batch, rows, Targets, singleMinus, MezoStep.Minus(plus));
            model.ScoreTokensLockstep(plusWs, minusWs, batch, rows, Targets, plus, lockPlus, lockMinus);
            model.ScoreTokens(plusWs, batch, rows, Targets, unperturbed);
        }
        Assert.That(lockPlus, Is.EqualTo(single), "lockstep +ε stream = one pass under +ε, bit for bit");
        Assert.That(lockMinus, Is.EqualTo(singleMinus), "lockstep −ε stream = one pass under −ε, bit for bit");
        Assert.That(lockPlus, Is.Not.EqualTo(lockMinus), "the two streams differ, or the perturbation went unseen");
        Assert.That(unperturbed, Is.Not.EqualTo(lockPlus));

        float[] Materialised(float scale)
        {
            // A float32 adapter on the same model with A and B set on the host to fl(θ + fl(scale·z)).
            using var materialised = LoraAdapter.Create(model, new LoraConfig(Rank, Alpha, s.Targets), DType.F32);
            foreach (var p in materialised.Parameters)
            {
                var theta = s.Values[p.Name].Values;
                ulong first = s.FirstIndex[p.Name];
                HostValues.Write(p.Tensor, theta.Select((v, j) => v + scale * GaussianNoise.Z(Seed, first + (ulong)j)).ToArray());
            }
            model.Lora = materialised;
            try
            {
                using var ws = model.CreateWorkspace(batch.BatchSize, 8);
                var result = new float[rows.Length];
                model.ScoreTokens(ws, batch, rows, Targets, result);
                return result;
            }
            finally
            {
                model.Lora = s.Adapter;
            }
        }
        Assert.That(single, Is.EqualTo(Materialised(Eps)), "+ε: the adapter at fl(θ + fl(ε·z)), bit for bit");
        Assert.That(singleMinus, Is.EqualTo(Materialised(-Eps)), "−ε: the adapter at fl(θ − fl(ε·z)), bit for bit");

        Assert.That(model.Weights.Parameters.Select(p => LoraReference.StoredBytes(p.Tensor)), Is.EqualTo(baseBefore), "base weights untouched");
        Assert.That(s.Adapter.Parameters.Select(p => LoraReference.StoredBytes(p.Tensor)), Is.EqualTo(adapterBefore), "θ untouched by perturbed passes");
    }

    [TestCaseSource(nameof(Cases))]
    public void AnUpdateWritesOnlyTheAdapterAsTheReferenceRule(TinyVariant variant, DType baseType, DType adapterType)
    {
        using var s = new Setup(variant, baseType, adapterType);
        var trainable = TrainableSet.Of(s.Adapter.Parameters);
        var baseBefore = s.Model.Weights.Parameters.Select(p => LoraReference.StoredBytes(p.Tensor)).ToArray();
        const double learningRate = 1e-2, weightDecay = 0.1, projectedGradient = 2.5;
        const ulong stepSeed = Seed + 17;
        new MezoStep(trainable, Eps, weightDecay).Update(stepSeed, learningRate, projectedGradient);

        // θ ← θ(1 − ηλ) − ηg·z in float32, every adapter tensor taking weight decay as PEFT's optimizer gives it; a
        // 16-bit adapter rounds stochastically with the draw of the element's global index.
        float decay = 1f - (float)learningRate * (float)weightDecay, step = (float)learningRate * (float)projectedGradient;
        int changed = 0;
        foreach (var p in s.Adapter.Parameters)
        {
            var theta = s.Values[p.Name].Values;
            ulong first = s.FirstIndex[p.Name];
            var actual = Values(p.Tensor);
            for (int j = 0; j < theta.Length; j++)
            {
                ulong index = first + (ulong)j;
                float v = theta[j] * decay - step * GaussianNoise.Z(stepSeed, index);
                float expected = adapterType == DType.F32 ? v : UpdateRounding.Round(v, adapterType, stepSeed, index);
                if (actual[j] != expected)
                    Assert.Fail($"{p.Name}[{j}]: {actual[j]:R}, the reference rule gives {expected:R} (θ {theta[j]:R}, v {v:R})");
                if (actual[j] != theta[j]) changed++;
            }
        }
        Assert.That(changed, Is.GreaterThan(s.Values.Values.Sum(t => t.ElementCount) / 2), "the update moves most adapter elements");
        Assert.That(s.Model.Weights.Parameters.Select(p => LoraReference.StoredBytes(p.Tensor)), Is.EqualTo(baseBefore), "base weights untouched");
    }

    [Test]
    public void StochasticRoundingOfABfloat16AdapterIsUnbiasedWhereRoundingToNearestWouldStall()
    {
        // A step of 2⁻¹⁴ on elements near 1, far below half a bfloat16 ulp (2⁻⁸): round-to-nearest would leave every
        // element where it was; stochastic rounding moves them so the mean follows the float32 update.
        using var s = new Setup(TinyVariant.LlamaTied, DType.F32, DType.BF16);
        var ones = s.Adapter.Parameters.ToDictionary(p => p.Name, p => Enumerable.Repeat(1f, (int)p.Tensor.ElementCount).ToArray());
        foreach (var p in s.Adapter.Parameters) HostValues.Write(p.Tensor, ones[p.Name]);
        var trainable = TrainableSet.Of(s.Adapter.Parameters);
        const double learningRate = 1.0 / 16384;
        new MezoStep(trainable, Eps, weightDecay: 0).Update(Seed, learningRate, projectedGradient: 1.0);
        // Projected on z, the update's signal Σ z·(θ' − 1) must follow the float32 one, −ηΣz², within five standard
        // deviations of the rounding's own noise, Σ z²·(v − a)(b − v) for the neighbours a ≤ v ≤ b; round-to-nearest
        // would give 0, far outside.
        double actual = 0, expected = 0, variance = 0;
        foreach (var p in s.Adapter.Parameters)
        {
            var stored = Values(p.Tensor);
            ulong first = s.FirstIndex[p.Name];
            for (int j = 0; j < stored.Length; j++)
            {
                float z = GaussianNoise.Z(Seed, first + (ulong)j);
                float v = 1f - (float)learningRate * z;
                var (a, b) = UpdateRounding.Neighbours(v, DType.BF16);
                actual += z * (stored[j] - 1.0);
                expected += z * (v - 1.0);
                variance += (double)z * z * (v - a) * (b - v);
            }
        }
        double deviation = Math.Sqrt(variance);
        Assert.That(Math.Abs(expected), Is.GreaterThan(5 * deviation), "the test can tell stochastic rounding from round-to-nearest");
        Assert.That(actual, Is.EqualTo(expected).Within(5 * deviation));
    }

    private static float[] Values(Tensor t)
    {
        var values = new float[t.ElementCount];
        if (t.DType == DType.F32)
        {
            t.Backend.Download<float>(t, values);
            return values;
        }
        var bits = new ushort[t.ElementCount];
        t.Backend.Download<ushort>(t, bits);
        for (int i = 0; i < bits.Length; i++)
            values[i] = t.DType == DType.BF16 ? ReferenceRounding.BFloat16ToSingle(bits[i]) : ReferenceRounding.HalfToSingle(bits[i]);
        return values;
    }
}
