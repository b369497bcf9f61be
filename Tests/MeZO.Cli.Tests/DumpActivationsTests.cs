using System.Text.Json;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// `mezo inspect --dump-activations`: the file it writes, checked against what it is independently known to hold — the
/// embedding rows read straight from the checkpoint, and the logits `mezo score --json` prints and the oracle computes.
/// </summary>
[TestFixture]
public sealed class DumpActivationsTests
{
    /// <summary>As ScoreCommandTests: float32 against the oracle's double, 1e-5 of the largest |logit| (a 16× margin).</summary>
    private const double RelativeTolerance = 1e-5;

    private string _folder = null!;

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("mezo-dump-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void TheLogitsAreScoresLastLogitsAndTheOracles()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Qwen2);
        int[] ids = [5, 17, 42, 99, 0, 63];
        string file = Path.Combine(_folder, "qwen2.safetensors");

        var dump = Mezo.Run("inspect", checkpoint.Folder, "--dump-activations", "--ids", string.Join(",", ids), "--out", file);
        var score = Mezo.Run("score", "--model", checkpoint.Folder, "--ids", string.Join(",", ids), "--json", "--logits");

        Assert.That(dump.ExitCode, Is.Zero, dump.ToString());
        Assert.That(score.ExitCode, Is.Zero, score.ToString());
        var tensors = SafetensorsTestReader.Read(file);
        int vocab = checkpoint.VocabSize, layers = (int)checkpoint.Config["num_hidden_layers"]!;
        Assert.That(tensors.Keys, Does.Contain("embed").And.Contain("final_norm").And.Contain($"layers.{layers - 1}.ffn_residual"));
        var logits = tensors["logits"];
        Assert.That(logits.Shape, Is.EqualTo(new[] { ids.Length, vocab }));

        using var json = JsonDocument.Parse(score.StandardOutput);
        double[] lastLogits = json.RootElement.GetProperty("last_logits").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var input = new int[1, ids.Length];
        for (int t = 0; t < ids.Length; t++) input[0, t] = ids[t];
        double[,,] oracle = checkpoint.Oracle().Forward(input);
        double tolerance = RelativeTolerance * Math.Max(1.0, lastLogits.Max(Math.Abs));
        for (int v = 0; v < vocab; v++)
            Assert.That(logits.Values[(ids.Length - 1) * vocab + v], Is.EqualTo(lastLogits[v]).Within(tolerance), $"last logit {v}");
        for (int t = 0; t < ids.Length; t++)
        for (int v = 0; v < vocab; v++)
            Assert.That(logits.Values[t * vocab + v], Is.EqualTo(oracle[0, t, v]).Within(tolerance), $"logit {v} at {t}");
        Assert.That(dump.StandardOutput, Does.Contain("final_norm").And.Contain($"{ids.Length}×{vocab}"));
    }

    /// <summary>`embed` is the residual stream entering layer 0: the token's row, plus its position's for learned positions (OPT's offset by 2).</summary>
    [TestCase(TinyVariant.LlamaUntied, "model.embed_tokens.weight", null, 0)]
    [TestCase(TinyVariant.Gpt2, "transformer.wte.weight", "transformer.wpe.weight", 0)]
    [TestCase(TinyVariant.OptPreLayerNorm, "model.decoder.embed_tokens.weight", "model.decoder.embed_positions.weight", 2)]
    public void EmbedIsTheCheckpointsRows(TinyVariant variant, string tokens, string? positions, int offset)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        int[] ids = [7, 3, 11, 2];
        string file = Path.Combine(_folder, "embed.safetensors");

        var dump = Mezo.Run("inspect", checkpoint.Folder, "--dump-activations", "--ids", string.Join(",", ids), "--out", file);

        Assert.That(dump.ExitCode, Is.Zero, dump.ToString());
        var embed = SafetensorsTestReader.Read(file)["embed"];
        var table = checkpoint.Weights[tokens];
        int width = table.Shape[1];
        Assert.That(embed.Shape, Is.EqualTo(new[] { ids.Length, width }));
        for (int t = 0; t < ids.Length; t++)
        for (int c = 0; c < width; c++)
        {
            float expected = table.Values[ids[t] * width + c] + (positions is null ? 0f : checkpoint.Weights[positions].Values[(t + offset) * width + c]);
            Assert.That(embed.Values[t * width + c], Is.EqualTo(expected), $"token {t}, column {c}");
        }
    }

    [Test]
    public void BadInputIsOneLineAndExitOne()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        string missingFolder = Path.Combine(_folder, "missing", "a.safetensors");

        var noIds = Mezo.Run("inspect", checkpoint.Folder, "--dump-activations");
        var bothInputs = Mezo.Run("inspect", checkpoint.Folder, "--dump-activations", "--ids", "1", "--text", "x");
        var unwritable = Mezo.Run("inspect", checkpoint.Folder, "--dump-activations", "--ids", "1,2", "--out", missingFolder);
        var aFolder = Mezo.Run("inspect", checkpoint.Folder, "--dump-activations", "--ids", "1,2", "--out", _folder);
        var withoutDump = Mezo.Run("inspect", checkpoint.Folder, "--ids", "1,2");
        var outsideVocabulary = Mezo.Run("inspect", checkpoint.Folder, "--dump-activations", "--ids", "1,100000");

        foreach (var result in new[] { noIds, bothInputs, unwritable, aFolder, withoutDump, outsideVocabulary })
        {
            Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
            Assert.That(result.ErrorLines, Has.Length.EqualTo(1), result.ToString());
            Assert.That(result.StandardError, Does.StartWith("mezo inspect: ").Or.Contain(checkpoint.Folder), result.ToString());
        }
        Assert.That(noIds.StandardError.Trim(), Is.EqualTo("mezo inspect: give exactly one of --ids or --text"));
        Assert.That(unwritable.StandardError, Does.Contain(missingFolder));
        Assert.That(withoutDump.StandardError.Trim(), Is.EqualTo("mezo inspect: --ids goes with --dump-activations"));
        Assert.That(File.Exists(missingFolder), Is.False);
    }
}
