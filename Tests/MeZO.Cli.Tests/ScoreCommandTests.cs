using System.Text.Json;
using MeZO.Engine.Tests.Reference;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>`mezo score --json`: exactly the keys DESIGN §5 specifies, of the right lengths, with the oracle's values.</summary>
[TestFixture]
public sealed class ScoreCommandTests
{
    /// <summary>
    /// The engine's float32 against the oracle's double: the engine's model tests measure ≤ 6.1e-7 of the largest
    /// |logit| on these models; 1e-5 of it leaves a 16× margin and is far below the order-one change of a real error.
    /// </summary>
    private const double RelativeTolerance = 1e-5;

    [Test]
    public void JsonOnATinyCheckpointHasTheSpecifiedKeysAndTheOraclesValues()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Qwen2);
        int[] ids = [5, 17, 42, 99, 0, 63];

        var result = Mezo.Run("score", "--model", checkpoint.Folder, "--ids", string.Join(",", ids), "--json", "--logits");

        AssertMatchesOracle(result, ids, checkpoint.Oracle());
    }

    /// <summary>
    /// stories260K (rotary positions) with max_position_embeddings rewritten to 4: a sequence of 5 tokens is refused as
    /// generate refuses it, exit 1 and one line, and 4 tokens still score.
    /// </summary>
    [Test]
    public void ASequenceLongerThanThePositionsIsAUserError()
    {
        using var model = CheckpointEditor.CopyOf(SharedData.Path("models/stories260K"));
        model.SetConfig("max_position_embeddings", "4");

        var tooLong = Mezo.Run("score", "--model", model.Folder, "--ids", "1,403,407,261,378", "--json");
        var fits = Mezo.Run("score", "--model", model.Folder, "--ids", "1,403,407,261", "--json");

        Assert.That(tooLong.ExitCode, Is.EqualTo(1), tooLong.ToString());
        Assert.That(tooLong.StandardOutput, Is.Empty);
        Assert.That(tooLong.ErrorLines, Is.EqualTo(new[] { $"a sequence of 5 tokens exceeds the 4 positions of {model.Folder}" }));
        Assert.That(fits.ExitCode, Is.EqualTo(0), fits.ToString());
    }

    [Test]
    public void JsonWithTextTokenizesWithBosAndMatchesTheOracle()
    {
        string folder = SharedData.Path("models/stories260K");

        var result = Mezo.Run("score", "--model", folder, "--text", "Once upon a time", "--json", "--logits");

        // BOS, then ▁Once ▁upon ▁a ▁time in stories260K's 512-piece vocabulary.
        AssertMatchesOracle(result, [1, 403, 407, 261, 378], NaiveTransformer.FromFolder(folder));
    }

    /// <summary>The tokens beside their ids, in the JSON and the table; the last logits only when asked for.</summary>
    [Test]
    public void TokensArePrintedBesideIdsAndTheLogitsOnlyWithLogits()
    {
        string folder = SharedData.Path("models/stories260K");

        var json = Mezo.Run("score", "--model", folder, "--text", "Once upon a time", "--json");
        var table = Mezo.Run("score", "--model", folder, "--text", "Once upon a time");

        Assert.That(json.ExitCode, Is.Zero, json.ToString());
        using var document = JsonDocument.Parse(json.StandardOutput);
        var root = document.RootElement;
        Assert.That(root.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "ids", "tokens", "logprobs" }));
        string[] tokens = [.. root.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()!)];
        Assert.That(tokens[1..].Select(t => t.Trim()), Is.EqualTo(new[] { "Once", "upon", "a", "time" }));
        Assert.That(table.StandardOutput, Does.Contain("id     407  \"upon\""));
        var logitsAlone = Mezo.Run("score", "--model", folder, "--text", "Once", "--logits");
        Assert.That(logitsAlone.ExitCode, Is.EqualTo(1));
        Assert.That(logitsAlone.ErrorLines, Has.Length.EqualTo(1).And.Some.Contains("--logits goes with --json"));
    }

    [Test]
    public void JsonOfASingleTokenHasNoLogProbsAndTheLastLogits()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.OptPostLayerNorm);

        var result = Mezo.Run("score", "--model", checkpoint.Folder, "--ids", "7", "--json", "--logits");

        AssertMatchesOracle(result, [7], checkpoint.Oracle());
    }

    [Test]
    public void WithoutJsonPrintsOneLinePerScoredToken()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Gpt2);

        var result = Mezo.Run("score", "--model", checkpoint.Folder, "--ids", "1,2,3");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.StandardOutput, Does.Contain("log p =").And.Contain("total log p"));
    }

    private static void AssertMatchesOracle(MezoResult result, int[] ids, NaiveTransformer oracle)
    {
        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.StandardError, Is.Empty);
        using var json = JsonDocument.Parse(result.StandardOutput);
        var root = json.RootElement;
        Assert.That(root.EnumerateObject().Select(p => p.Name).Where(n => n != "tokens"), Is.EqualTo(new[] { "ids", "logprobs", "last_logits" }));
        int[] printedIds = root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        double[] logProbs = root.GetProperty("logprobs").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        double[] lastLogits = root.GetProperty("last_logits").EnumerateArray().Select(e => e.GetDouble()).ToArray();

        var input = new int[1, ids.Length];
        for (int t = 0; t < ids.Length; t++) input[0, t] = ids[t];
        double[,,] logits = oracle.Forward(input);
        double scale = 0;
        foreach (double value in logits) scale = Math.Max(scale, Math.Abs(value));
        double tolerance = RelativeTolerance * Math.Max(1.0, scale);

        Assert.That(printedIds, Is.EqualTo(ids));
        Assert.That(logProbs, Has.Length.EqualTo(ids.Length - 1));
        Assert.That(lastLogits, Has.Length.EqualTo(oracle.VocabSize));
        for (int t = 1; t < ids.Length; t++)
            Assert.That(logProbs[t - 1], Is.EqualTo(NaiveTransformer.LogSoftmax(logits, 0, t - 1)[ids[t]]).Within(tolerance), $"log p(ids[{t}])");
        for (int v = 0; v < oracle.VocabSize; v++)
            Assert.That(lastLogits[v], Is.EqualTo(logits[0, ids.Length - 1, v]).Within(tolerance), $"last logit {v}");
    }
}
