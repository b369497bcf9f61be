using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Generation;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models.Generation;

/// <summary>
/// Sampled generation with the KV cache, prompts left-padded into one batch, against a loop without cache that runs
/// each sequence alone and feeds the full pass's last logits to the same sampler: the logits a cached step reads must
/// be the sequence's own, whatever its padding and its neighbours.
/// </summary>
[TestFixture]
public sealed class SampledGenerationTests
{
    [Test]
    public void CachedBatchedSamplingDrawsWhatTheUncachedLoopDraws([Values(TinyVariant.LlamaTied, TinyVariant.Gpt2)] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var prompts = ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 41, 6, 2, 9);
        var settings = new SamplingSettings(Temperature: 1.2, TopK: 20, TopP: 0.9, Seed: 77);
        const int newTokens = 6;

        var generated = new TokenGenerator(model).Generate(prompts, newTokens, endOfSequence: null, sampling: settings);

        var sampler = new TokenSampler(settings);
        var logits = new float[checkpoint.VocabSize];
        for (int i = 0; i < prompts.Length; i++)
        {
            var sequence = prompts[i].ToList();
            var expected = new List<int>();
            using var ws = model.CreateWorkspace(1, prompts[i].Length + newTokens);
            for (int step = 0; step < newTokens; step++)
            {
                model.LogitsAt(ws, TokenBatch.Pack([sequence], PaddingSide.Right), [sequence.Count - 1], logits);
                int next = sampler.Pick(logits, i, step);
                expected.Add(next);
                sequence.Add(next);
            }
            Assert.That(generated[i], Is.EqualTo(expected), $"sequence {i}");
        }
        var greedy = new TokenGenerator(model).Generate(prompts, newTokens, endOfSequence: null);
        Assert.That(generated, Is.Not.EqualTo(greedy), "the settings sample, not decode greedily");
    }
}
