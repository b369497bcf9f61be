using MeZO.Engine.Models.Generation;
using MeZO.Engine.Adapters;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Tests.Mezo;
using MeZO.Engine.Tests.Models;
using MeZO.Engine.Tests.Reference;
using MeZO.Trainer.Tests.Support;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Adapters;

/// <summary>
/// MeZO over prompt_embeddings alone: a forward pass under the perturbation reads θ + scale·z of the prefix without
/// writing it (DESIGN §3). The reference is a second prefix whose values were set on the host to fl(θ + fl(scale·z)),
/// z from <see cref="ReferenceNoise"/> (the specification written out, not the engine's generator), scored unperturbed.
/// </summary>
[TestFixture]
public sealed class PrefixPerturbationTests
{
    private const ulong Seed = 0x5EED_0F9A_EF17_D00Dul;
    private const float Eps = 1e-2f;
    private static readonly int[] Prefix = [17, 4, 58, 9, 33];

    [Test]
    public void PerturbedScoresEqualThoseOfAPrefixMaterialisedOnTheHost(
        [Values(TinyVariant.OptPreLayerNorm, TinyVariant.LlamaTied, TinyVariant.Gpt2, TinyVariant.Qwen2SlidingWindow)] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var prefix = PrefixAdapter.FromActivations(model, Prefix);
        var theta = Read(prefix);
        var trainable = TrainableSet.Of(prefix.Parameters);
        var plus = new WeightPerturbation(trainable, Seed, Eps);
        var batch = TokenBatch.Pack([[5, 9, 2, 31, 7, 11, 3], [8, 1, 4]], PaddingSide.Right);
        int[] rows = [batch.Row(0, 0), batch.Row(0, 1), batch.Row(0, 2), batch.Row(0, 3), batch.Row(0, 4), batch.Row(0, 5), batch.Row(1, 0), batch.Row(1, 1)];
        int[] targets = [9, 2, 31, 7, 11, 3, 1, 4];

        model.Prefix = prefix;
        using var plusWs = model.CreateWorkspace(batch.BatchSize, batch.Length);
        using var minusWs = model.CreateLockstepWorkspace(batch.BatchSize, batch.Length);
        var single = new float[rows.Length];
        var lockPlus = new float[rows.Length];
        var lockMinus = new float[rows.Length];
        var unperturbed = new float[rows.Length];
        model.ScoreTokens(plusWs, batch, rows, targets, single, plus);
        model.ScoreTokensLockstep(plusWs, minusWs, batch, rows, targets, plus, lockPlus, lockMinus);
        model.ScoreTokens(plusWs, batch, rows, targets, unperturbed);
        Assert.That(Read(prefix), Is.EqualTo(theta), "θ itself is never written by a perturbed pass");

        float[] Materialised(float scale)
        {
            using var moved = PrefixAdapter.Create(model.Spec, backend, Prefix.Length);
            var values = (float[])theta.Clone();
            for (int j = 0; j < values.Length; j++) values[j] += scale * ReferenceNoise.Z(Seed, (ulong)j);
            moved.Upload(values);
            model.Prefix = moved;
            try
            {
                using var ws = model.CreateWorkspace(batch.BatchSize, batch.Length);
                var result = new float[rows.Length];
                model.ScoreTokens(ws, batch, rows, targets, result);
                return result;
            }
            finally
            {
                model.Prefix = prefix;
            }
        }
        var expectedPlus = Materialised(Eps);
        var expectedMinus = Materialised(-Eps);
        for (int i = 0; i < rows.Length; i++)
        {
            // The engine's z and the reference's agree to 1e-5 (DESIGN §3), not bit for bit (their own ln and sincos):
            // scaled by ε that is far inside the logits' float32 tolerance.
            double tolerance = ParityRuns.Tolerance(Math.Abs(expectedPlus[i]));
            Assert.That(single[i], Is.EqualTo(expectedPlus[i]).Within(tolerance), $"row {i}: one stream under +ε");
            Assert.That(lockMinus[i], Is.EqualTo(expectedMinus[i]).Within(tolerance), $"row {i}: lockstep, −ε stream");
        }
        Assert.That(lockPlus, Is.EqualTo(single), "lockstep's +ε stream computes exactly what one stream does");
        Assert.That(lockPlus, Is.Not.EqualTo(lockMinus), "the two streams must differ, or the perturbation went unseen");
        Assert.That(single, Is.Not.EqualTo(unperturbed));
    }

    [Test]
    public void GenerationUnderAPerturbationOfThePrefixMatchesTheMaterialisedPrefix()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaUntied);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var prefix = PrefixAdapter.FromActivations(model, Prefix);
        var values = Read(prefix);
        const float scale = 2f; // large, so the generated tokens change
        for (int j = 0; j < values.Length; j++) values[j] += scale * ReferenceNoise.Z(Seed, (ulong)j);
        using var moved = PrefixAdapter.Create(model.Spec, backend, Prefix.Length);
        moved.Upload(values);
        IReadOnlyList<IReadOnlyList<int>> prompts = [[3, 5, 7], [9, 2]];
        var generator = new TokenGenerator(model);

        model.Prefix = prefix;
        var perturbation = new WeightPerturbation(TrainableSet.Of(prefix.Parameters), Seed, scale);
        var perturbed = generator.Generate(prompts, 6, null, perturbation: perturbation);
        var plain = generator.Generate(prompts, 6, null);
        model.Prefix = moved;
        var materialised = generator.Generate(prompts, 6, null);

        Assert.That(perturbed, Is.EqualTo(materialised));
        Assert.That(perturbed, Is.Not.EqualTo(plain), "a perturbation this large changes what is generated");
    }

    private static float[] Read(PrefixAdapter prefix)
    {
        var values = new float[prefix.ElementCount];
        prefix.Embeddings.Backend.Download<float>(prefix.Embeddings, values);
        return values;
    }
}
