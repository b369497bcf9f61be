using MeZO.Engine.Models.Generation;
using MeZO.Engine.Adapters;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Tests.Models;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Adapters;

/// <summary>
/// Greedy generation with the KV cache and a prefix from the activations of X, prompts left-padded into one batch,
/// against the oracle's uncached greedy decoding of X ++ prompt, and the engine's generation without a prefix on X ++ prompt.
/// </summary>
[TestFixture]
public sealed class PrefixGenerationTests
{
    private const int NewTokens = 6;
    private static readonly int[] Prefix = [23, 7, 61, 2];

    [Test]
    public void GenerationWithAPrefixFromActivationsEqualsGenerationAfterThePrefixTokens(
        [ValueSource(typeof(TinyCheckpoints), nameof(TinyCheckpoints.AllVariants))] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        // Prompts of one length where the window bites: see PrefixRuns.HasBitingWindow.
        int[] lengths = PrefixRuns.HasBitingWindow(variant) ? [5, 5] : [5, 1, 3];
        int[][] prompts = ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 13, lengths);
        var generator = new TokenGenerator(model);
        var withoutPrefix = generator.Generate(prompts.Select(p => (int[])[.. Prefix, .. p]).ToArray(), NewTokens, endOfSequence: null);

        using var prefix = PrefixAdapter.FromActivations(model, Prefix);
        model.Prefix = prefix;
        var generated = generator.Generate(prompts, NewTokens, endOfSequence: null);

        var oracle = checkpoint.Oracle();
        for (int p = 0; p < prompts.Length; p++)
        {
            int[] expected = ParityRuns.NaiveGreedy(oracle, [.. Prefix, .. prompts[p]], NewTokens, out double margin);
            Assert.That(margin, Is.GreaterThan(ParityRuns.RelativeTolerance), $"prompt {p} has a near-tie, choose another");
            Assert.That(generated[p], Is.EqualTo(expected), $"prompt {p}: the oracle over X ++ prompt");
            Assert.That(generated[p], Is.EqualTo(withoutPrefix[p]), $"prompt {p}: the engine over X ++ prompt");
        }
    }
}
