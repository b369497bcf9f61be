using System.Text.Json;
using MeZO.Engine.Tests.Reference;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>`mezo generate`: greedy tokens and their text; `--json` prints exactly {"new_ids", "text"}.</summary>
[TestFixture]
public sealed class GenerateCommandTests
{
    /// <summary>The beginning of the greedy story from BOS that stories260K's MODEL_CARD.md publishes (llama2.c, temperature 0).</summary>
    private const string PublishedStoryStart =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.";

    [Test]
    public void JsonFromBosIsTheStartOfThePublishedStory()
    {
        var result = Mezo.Run("generate", "--model", SharedData.Path("models/stories260K"), "--ids", "1", "--max-new-tokens", "24", "--json");

        var (newIds, text) = Parse(result);
        Assert.That(newIds, Has.Length.EqualTo(24));
        Assert.That(text, Has.Length.GreaterThan(60));
        Assert.That(PublishedStoryStart, Does.StartWith(text), "the text of the new tokens");
    }

    [Test]
    public void JsonFromAPromptContinuesIt()
    {
        var result = Mezo.Run("generate", "--model", SharedData.Path("models/stories260K"), "--prompt", "Once upon a time",
            "--max-new-tokens", "12", "--json");

        var (newIds, text) = Parse(result);
        Assert.That(newIds, Has.Length.EqualTo(12));
        Assert.That(PublishedStoryStart, Does.StartWith("Once upon a time" + text));
    }

    [Test]
    public void JsonOnTinyRandomGpt2GivesTheOraclesGreedyTokens()
    {
        // Its tokenizer.json has GPT-2's 50257 tokens but the model only 1000 ids, so the prompt is given as ids.
        string folder = SharedData.Path("models/tiny-random-gpt2");
        int[] prompt = [5, 17, 200];

        var result = Mezo.Run("generate", "--model", folder, "--ids", string.Join(",", prompt), "--max-new-tokens", "5", "--json");

        var (newIds, _) = Parse(result);
        Assert.That(newIds, Is.EqualTo(OracleGreedy(NaiveTransformer.FromFolder(folder), prompt, 5)));
    }

    [Test]
    public void WithoutJsonPrintsThePromptAndItsContinuation()
    {
        var result = Mezo.Run("generate", "--model", SharedData.Path("models/stories260K"), "--prompt", "Once upon a time", "--max-new-tokens", "4");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.StandardOutput, Does.StartWith("Once upon a time, there was a"));
    }

    private static (int[] NewIds, string Text) Parse(MezoResult result)
    {
        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.StandardError, Is.Empty);
        using var json = JsonDocument.Parse(result.StandardOutput);
        Assert.That(json.RootElement.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "new_ids", "text" }));
        return (json.RootElement.GetProperty("new_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            json.RootElement.GetProperty("text").GetString()!);
    }

    /// <summary>Greedy decoding with the oracle, the whole sequence re-run for every token (no cache).</summary>
    /// <summary>
    /// Sampling through the command line: the same seed gives the same text, another seed another, and neither is
    /// the greedy story (the draws themselves are checked against the distribution in the engine's TokenSamplerTests).
    /// </summary>
    [Test]
    public void SamplingIsReproducibleBySeedAndNotGreedy()
    {
        string model = SharedData.Path("models/stories260K");
        string[] Sample(string seed) =>
            ["generate", "--model", model, "--ids", "1", "--max-new-tokens", "24", "--temperature", "1.0", "--top-p", "0.95", "--seed", seed, "--json"];
        var first = Parse(Mezo.Run(Sample("1")));
        var again = Parse(Mezo.Run(Sample("1")));
        var other = Parse(Mezo.Run(Sample("2")));
        Assert.That(again.NewIds, Is.EqualTo(first.NewIds));
        Assert.That(other.NewIds, Is.Not.EqualTo(first.NewIds));
        Assert.That(PublishedStoryStart, Does.Not.StartWith(first.Text), "sampled, not greedy");
    }

    /// <summary>--stop ends the text where a stop string first appears, cut off, and generation stops there.</summary>
    [Test]
    public void StopStringsEndTheText()
    {
        var result = Parse(Mezo.Run("generate", "--model", SharedData.Path("models/stories260K"), "--ids", "1", "--max-new-tokens", "40",
            "--stop", ".", "--stop", "zebra", "--json"));
        Assert.That(result.Text, Is.EqualTo("Once upon a time, there was a little girl named Lily"), "the published story up to its first period");
        Assert.That(result.NewIds.Length, Is.LessThan(40), "generation stopped at the period");
    }

    [TestCase(new[] { "--top-k", "5" }, "--top-k applies when sampling")]
    [TestCase(new[] { "--temperature", "-1" }, "--temperature -1 must be 0 (greedy) or a positive number")]
    [TestCase(new[] { "--temperature", "1", "--top-p", "1.5" }, "--top-p 1.5 must be in (0, 1]")]
    [TestCase(new[] { "--stop" }, "--stop has no value")]
    public void SamplingMistakesAreOneLine(string[] options, string message)
    {
        var result = Mezo.Run(["generate", "--model", SharedData.Path("models/stories260K"), "--prompt", "Once", .. options]);
        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.ErrorLines, Has.Length.EqualTo(1));
        Assert.That(result.ErrorLines[0], Does.Contain(message));
    }

    private static int[] OracleGreedy(NaiveTransformer oracle, int[] prompt, int count)
    {
        var ids = prompt.ToList();
        for (int step = 0; step < count; step++)
        {
            var input = new int[1, ids.Count];
            for (int t = 0; t < ids.Count; t++) input[0, t] = ids[t];
            double[,,] logits = oracle.Forward(input);
            int best = 0;
            for (int v = 1; v < oracle.VocabSize; v++)
                if (logits[0, ids.Count - 1, v] > logits[0, ids.Count - 1, best]) best = v;
            ids.Add(best);
        }
        return ids.Skip(prompt.Length).ToArray();
    }
}
