using MeZO.Engine.Models.Generation;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using MeZO.Engine.Tokenization;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// The real checkpoints under ../shared/data/models: stories260K (a trained Llama) reproduces the greedy story its
/// author published, produced by llama2.c, an implementation independent of ours and of the oracle; the random GPT-2
/// (float32, Conv1D) and Llama (float16) checkpoints load and generate the oracle's greedy tokens.
/// </summary>
[TestFixture]
public sealed class RealCheckpointModelTests
{
    [Test]
    public void Stories260KGreedyFromBosReproducesThePublishedStory()
    {
        string folder = SharedData.Path("models/stories260K");
        string published = PublishedGreedyStory(Path.Combine(folder, "MODEL_CARD.md"));
        using var backend = new CpuBackend();
        using var model = Transformer.Load(folder, backend);
        using var tokenizer = ModelTokenizer.Load(folder, model.Spec);

        // llama2.c's `run` takes 256 steps (its default), each of which samples and prints one token after BOS:
        // run.c loops `while (pos < steps)`, so 256 new tokens, not 255.
        int[] generated = new TokenGenerator(model).Generate([[1]], 256, endOfSequence: null)[0];
        string text = tokenizer.Decode(generated);

        Assert.That(generated, Has.Length.EqualTo(256));
        Assert.That(published, Has.Length.GreaterThan(500), "the whole published story was read from the model card");
        Assert.That(text, Does.StartWith(published));
    }

    [Test]
    public void TinyRandomGpt2LoadsAndGeneratesTheOraclesGreedyTokens() =>
        AssertGeneratesTheOraclesTokens("models/tiny-random-gpt2", DType.F32, [[5, 17, 200], [998, 0, 42, 7, 311, 9]]);

    [Test]
    public void TinyRandomLlamaFp16LoadsAndGeneratesTheOraclesGreedyTokens() =>
        AssertGeneratesTheOraclesTokens("models/tiny-random-llama-fp16", DType.F16, [[0, 3087, 29871, 1576], [0, 15043]]);

    private static void AssertGeneratesTheOraclesTokens(string relative, DType storedAs, int[][] prompts)
    {
        const int newTokens = 6;
        string folder = SharedData.Path(relative);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(folder, backend);

        Assert.That(model.Weights.TokenEmbedding.DType, Is.EqualTo(storedAs), "weights keep the checkpoint's dtype");
        ParityRuns.AssertGreedyMatchesOracle(model, NaiveTransformer.FromFolder(folder), prompts, newTokens, relative);
    }

    /// <summary>
    /// The text of the first fenced block after the card's "temperature 0.0" sentence, without its shell command line
    /// (the lines that start with "$ "), lines joined by "\n" exactly as printed.
    /// </summary>
    private static string PublishedGreedyStory(string modelCard)
    {
        string[] lines = File.ReadAllLines(modelCard);
        int sentence = Array.FindIndex(lines, l => l.Contains("temperature 0.0", StringComparison.OrdinalIgnoreCase));
        Assert.That(sentence, Is.GreaterThanOrEqualTo(0), $"{modelCard}: no line mentions temperature 0.0");
        int open = Array.FindIndex(lines, sentence, l => l.StartsWith("```", StringComparison.Ordinal));
        Assert.That(open, Is.GreaterThan(sentence), $"{modelCard}: no fenced block after the temperature 0.0 sentence");
        int close = Array.FindIndex(lines, open + 1, l => l.StartsWith("```", StringComparison.Ordinal));
        Assert.That(close, Is.GreaterThan(open), $"{modelCard}: the fenced block is not closed");
        return string.Join("\n", lines[(open + 1)..close].Where(l => !l.StartsWith("$ ", StringComparison.Ordinal)));
    }
}
