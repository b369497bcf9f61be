using MeZO.Engine.Models.Generation;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// Greedy generation with the KV cache, prompts of different lengths left-padded into one batch, against a naive
/// greedy loop over the oracle that re-runs each prompt alone, without cache, for every new token.
/// </summary>
[TestFixture]
public sealed class GreedyGenerationTests
{
    private const int NewTokens = 8;

    [Test]
    public void BatchedGenerationWithTheCacheProducesTheOraclesGreedyTokens(
        [ValueSource(typeof(TinyCheckpoints), nameof(TinyCheckpoints.AllVariants))] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var prompts = ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 31, 5, 1, 12);

        ParityRuns.AssertGreedyMatchesOracle(model, checkpoint.Oracle(), prompts, NewTokens, checkpoint.ToString()!);
    }

    [Test]
    public void ASequenceStopsAfterTheEndOfSequenceTokenWhileTheOthersGoOn()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Qwen2);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var prompts = ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 32, 4, 9);
        var oracle = checkpoint.Oracle();
        int[][] full = prompts.Select(p => ParityRuns.NaiveGreedy(oracle, p, NewTokens, out _)).ToArray();
        // The third token the first prompt produces serves as end of sequence: that sequence must stop right after it.
        int endOfSequence = full[0][2];

        var generated = new TokenGenerator(model).Generate(prompts, NewTokens, endOfSequence);

        for (int p = 0; p < prompts.Length; p++)
        {
            int stop = Array.IndexOf(full[p], endOfSequence);
            int[] expected = stop < 0 ? full[p] : full[p][..(stop + 1)];
            Assert.That(generated[p], Is.EqualTo(expected), $"prompt {p}");
        }
        Assert.That(generated[0], Has.Length.LessThan(NewTokens), "the fixture stops the first sequence early");
    }

    [Test]
    public void ZeroNewTokensGiveEmptyOutputs()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Gpt2);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);

        var generated = new TokenGenerator(model).Generate([[1, 2], [3]], 0, endOfSequence: null);

        Assert.That(generated, Has.Count.EqualTo(2).And.All.Empty);
    }
}
