using MeZO.Engine.Models.Generation;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using MeZO.Verification;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Mezo;

/// <summary>
/// A forward pass under a perturbation computes with θ + scale·z without writing θ (DESIGN §3). The reference is the
/// plain forward pass of a float32 copy of the model whose trainable tensors were set, on the host, to
/// fl(θ + fl(scale·z)) element by element: the perturbed pass must give the same log-probabilities bit for bit (every
/// product here has more than four rows, so both sides take the same packed product), for one stream and for MeZO's
/// lockstep pair; and θ must be unchanged afterwards.
/// </summary>
[TestFixture]
public sealed class PerturbedForwardTests
{
    private const ulong Seed = 0x0DDB_A11C_0FFE_E123ul;
    private const float Eps = 1e-2f;

    /// <summary>
    /// Room for 2 × 8 positions: the LM head then takes the 8 scored rows in one product into half its buffer (2 × 7
    /// leaves room for 7, so the head runs over vocabulary slices instead).
    /// </summary>
    private const int WorkspaceLength = 8;

    public static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(TinyVariant.LlamaUntied, DType.BF16, null, 7).SetName("Llama, BF16, more rows than half the logits buffer: vocabulary slices");
        yield return new TestCaseData(TinyVariant.OptPreLayerNorm, DType.F32, null, 7).SetName("OPT (tied head), F32, vocabulary slices");
        foreach (var variant in new[] { TinyVariant.OptPreLayerNorm, TinyVariant.OptPostLayerNorm, TinyVariant.LlamaTied, TinyVariant.Qwen2, TinyVariant.Gpt2 })
            foreach (var type in new[] { DType.F32, DType.BF16 })
                yield return new TestCaseData(variant, type, null, WorkspaceLength).SetName($"{variant}, {type}, every tensor");
        yield return new TestCaseData(TinyVariant.Qwen2, DType.F16, @"q_proj|norm", WorkspaceLength).SetName("Qwen2, F16, q_proj and norms only (biases too)");
        yield return new TestCaseData(TinyVariant.OptPreLayerNorm, DType.BF16, @"embed|fc2\.bias", WorkspaceLength).SetName("OPT, BF16, embeddings and fc2 biases only");
    }

    [TestCaseSource(nameof(Cases))]
    public void PerturbedScoresEqualThoseOfMaterialisedWeights(TinyVariant variant, DType type, string? filter, int workspaceLength)
    {
        using var checkpoint = TinyCheckpoints.Create(variant, new TinyCheckpointOptions { DType = type });
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var trainable = TrainableSet.Select(model.Weights, filter);
        var before = model.Weights.Parameters.Select(p => StoredBits(p.Tensor)).ToArray();

        var batch = TokenBatch.Pack([[5, 9, 2, 31, 7, 11, 3], [8, 1, 4]], PaddingSide.Right);
        int[] rows = [batch.Row(0, 0), batch.Row(0, 1), batch.Row(0, 2), batch.Row(0, 3), batch.Row(0, 4), batch.Row(0, 5), batch.Row(1, 0), batch.Row(1, 1)];
        int[] targets = [9, 2, 31, 7, 11, 3, 1, 4];
        var plus = new WeightPerturbation(trainable, Seed, Eps);

        float[] Materialised(float scale)
        {
            using var f32 = MaterialisedModel(checkpoint.Folder, backend, trainable, scale);
            using var ws = f32.CreateWorkspace(batch.BatchSize, workspaceLength);
            var result = new float[rows.Length];
            f32.ScoreTokens(ws, batch, rows, targets, result);
            return result;
        }

        using var plusWs = model.CreateWorkspace(batch.BatchSize, workspaceLength);
        using var minusWs = model.CreateLockstepWorkspace(batch.BatchSize, workspaceLength);
        var single = new float[rows.Length];
        var lockPlus = new float[rows.Length];
        var lockMinus = new float[rows.Length];
        var unperturbed = new float[rows.Length];
        model.ScoreTokens(plusWs, batch, rows, targets, single, plus);
        model.ScoreTokensLockstep(plusWs, minusWs, batch, rows, targets, plus, lockPlus, lockMinus);
        model.ScoreTokens(plusWs, batch, rows, targets, unperturbed);

        var expectedPlus = Materialised(Eps);
        var expectedMinus = Materialised(-Eps);
        Assert.That(single, Is.EqualTo(expectedPlus), "one stream under +ε");
        Assert.That(lockPlus, Is.EqualTo(expectedPlus), "lockstep, +ε stream");
        Assert.That(lockMinus, Is.EqualTo(expectedMinus), "lockstep, −ε stream");
        Assert.That(lockPlus, Is.Not.EqualTo(lockMinus), "the two streams must differ, or the perturbation went unseen");
        Assert.That(unperturbed, Is.Not.EqualTo(lockPlus));
        var after = model.Weights.Parameters.Select(p => StoredBits(p.Tensor)).ToArray();
        Assert.That(after, Is.EqualTo(before), "θ itself is never written by a perturbed pass");
    }

    [Test]
    public void ScoresOverVocabularySlicesEqualThoseOfOneProductWithinFloat32Sums()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Qwen2, new TinyCheckpointOptions { DType = DType.F32 });
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack([[5, 9, 2, 31, 7, 11, 3], [8, 1, 4]], PaddingSide.Left);
        int[] rows = Enumerable.Range(0, 6).Select(t => batch.Row(0, t)).Concat([batch.Row(1, 0), batch.Row(1, 1)]).ToArray();
        int[] targets = [9, 2, 31, 7, 11, 3, 1, 4];
        float[] ScoresWith(int length)
        {
            using var ws = model.CreateWorkspace(batch.BatchSize, length);
            var result = new float[rows.Length];
            model.ScoreTokens(ws, batch, rows, targets, result);
            return result;
        }
        var whole = ScoresWith(WorkspaceLength);
        var sliced = ScoresWith(7);
        // The one-product path is checked against the double-precision oracle (TransformerParityTests); the slices sum
        // the same exponentials in another order.
        for (int i = 0; i < rows.Length; i++)
            Assert.That(sliced[i], Is.EqualTo(whole[i]).Within(1e-5 * (1 + Math.Abs(whole[i]))), $"row {i}");
    }

    [Test]
    public void GreedyGenerationUnderAPerturbationMatchesTheMaterialisedModel()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaUntied, new TinyCheckpointOptions { DType = DType.BF16 });
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var trainable = TrainableSet.Select(model.Weights, null);
        const float scale = 0.5f; // large, so the generated tokens change
        IReadOnlyList<IReadOnlyList<int>> prompts = [[3, 5, 7], [9, 2]];

        using var f32 = MaterialisedModel(checkpoint.Folder, backend, trainable, scale);

        var perturbed = new TokenGenerator(model).Generate(prompts, 6, null, perturbation: new WeightPerturbation(trainable, Seed, scale));
        var materialised = new TokenGenerator(f32).Generate(prompts, 6, null);
        var plain = new TokenGenerator(model).Generate(prompts, 6, null);
        Assert.That(perturbed, Is.EqualTo(materialised));
        Assert.That(perturbed, Is.Not.EqualTo(plain), "a perturbation this large changes what is generated");
    }

    /// <summary>
    /// The model in float32 with each trainable tensor set on the host to fl(θ + fl(scale·z)), from the trainable set
    /// of a model of the same checkpoint (its z offsets).
    /// </summary>
    private static Transformer MaterialisedModel(string folder, CpuBackend backend, TrainableSet trainable, float scale)
    {
        var f32 = Transformer.Load(folder, backend, DType.F32);
        foreach (var t in trainable.Tensors)
        {
            var values = HostValues.Read(f32.Weights.Get(t.Parameter.Name));
            for (int j = 0; j < values.Length; j++) values[j] += scale * GaussianNoise.Z(Seed, t.FirstIndex + (ulong)j);
            HostValues.Write(f32.Weights.Get(t.Parameter.Name), values);
        }
        return f32;
    }

    internal static byte[] StoredBits(Tensor t)
    {
        var bytes = new byte[t.ByteCount];
        t.Backend.Download(t, 0, bytes);
        return bytes;
    }
}
