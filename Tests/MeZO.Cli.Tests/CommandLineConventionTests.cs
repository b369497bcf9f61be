using System.Text.Json;
using MeZO.Engine.Tests.Reference;
using MeZO.Tests.Common;
using MeZO.Trainer.Runs;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// The conventions the command line shares with other .NET tools and with Hugging Face's Trainer, through the real
/// executable: suggestions for a misspelt option or command, --version, response files, one spelling of --model and
/// --batch-size in every command (the older ones still accepted), and the Trainer's option names.
/// </summary>
[TestFixture]
public sealed class CommandLineConventionTests
{
    private TinyCheckpoint _tiny = null!;
    private string _folder = null!;

    [OneTimeSetUp]
    public void Create()
    {
        _tiny = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        _folder = Path.Combine(Path.GetTempPath(), "mezo-cli-conventions-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_folder);
    }

    [OneTimeTearDown]
    public void Delete()
    {
        _tiny.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [TestCase(new[] { "train", "--stesp", "5" }, "mezo train: unknown option --stesp; did you mean --steps?")]
    [TestCase(new[] { "score", "--max-new-tokens", "5" }, "mezo score: unknown option --max-new-tokens (see 'mezo score --help')")]
    [TestCase(new[] { "eval", "--batch_size", "4" }, "did you mean --batch-size?")]
    [TestCase(new[] { "trian", "--steps", "5" }, "mezo: unknown command 'trian'; did you mean train? (commands: score,")]
    public void AMisspeltOptionOrCommandIsOneLineWithTheClosestSpelling(string[] args, string fragment)
    {
        var result = Mezo.Run(args);

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.ErrorLines, Has.Length.EqualTo(1), result.ToString());
        Assert.That(result.StandardError, Does.Contain(fragment));
    }

    [Test]
    public void VersionIsTheEngineVersionARunRecords()
    {
        var result = Mezo.Run("--version");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.StandardError, Is.Empty);
        Assert.That(result.StandardOutput.Trim(), Is.EqualTo(RunManifest.EngineVersionString));
    }

    [Test]
    public void AResponseFileStandsForTheArgumentsItHolds()
    {
        string file = Path.Combine(_folder, "score.rsp");
        File.WriteAllLines(file, ["# the model and the sequence", $"--model \"{_tiny.Folder}\"", "--ids 1,5,9"]);

        var fromFile = Mezo.Run("score", $"@{file}", "--json");
        var typed = Mezo.Run("score", "--model", _tiny.Folder, "--ids", "1,5,9", "--json");

        Assert.That(fromFile.ExitCode, Is.Zero, fromFile.ToString());
        Assert.That(fromFile.StandardOutput, Is.EqualTo(typed.StandardOutput).And.Contain("\"logprobs\""));
    }

    [Test]
    public void AMissingResponseFileIsOneLineNamingIt()
    {
        string missing = Path.Combine(_folder, "missing.rsp");

        var result = Mezo.Run("score", $"@{missing}");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.ErrorLines, Has.Length.EqualTo(1), result.ToString());
        Assert.That(result.StandardError, Does.Contain(missing));
    }

    [Test]
    public void InspectTakesTheFolderAsModelOrPositionally()
    {
        var named = Mezo.Run("inspect", "--model", _tiny.Folder, "--batch-size", "2", "--json");
        var positional = Mezo.Run("inspect", _tiny.Folder, "--batch", "2", "--json");
        var both = Mezo.Run("inspect", _tiny.Folder, "--model", _tiny.Folder);

        Assert.That(named.ExitCode, Is.Zero, named.ToString());
        using var json = JsonDocument.Parse(named.StandardOutput);
        Assert.That(json.RootElement.GetProperty("batch").GetInt32(), Is.EqualTo(2));
        Assert.That(named.StandardOutput, Is.EqualTo(positional.StandardOutput));
        Assert.That(both.ExitCode, Is.EqualTo(1), both.ToString());
        Assert.That(both.StandardError.Trim(), Is.EqualTo("mezo inspect: give the model folder once: as DIR or as --model DIR"));
    }

    [Test]
    public void BenchMemoryTakesBatchSize()
    {
        string model = SharedData.Path("models/stories260K");
        var result = Mezo.Run("bench", "memory", "--model", model, "--batch-size", "3", "--length", "8", "--steps", "1", "--json");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        using var json = JsonDocument.Parse(result.StandardOutput);
        Assert.That(json.RootElement.GetProperty("batch").GetInt32(), Is.EqualTo(3));
        Assert.That(json.RootElement.GetProperty("length").GetInt32(), Is.EqualTo(8));
    }

    /// <summary>Each Trainer spelling and ours given together is one option given twice, named with both spellings.</summary>
    [TestCase("--lr", "--learning_rate", "0.1")]
    [TestCase("--steps", "--max_steps", "3")]
    [TestCase("--out", "--output_dir", "x")]
    public void AnOptionUnderBothSpellingsIsGivenTwice(string ours, string huggingFace, string value)
    {
        var result = Mezo.Run("train", ours, value, huggingFace, value);

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.StandardError.Trim(), Is.EqualTo($"mezo train: {ours} is given twice (as {ours} and {huggingFace})"));
    }

    [Test]
    public void PerDeviceBatchSizeDoesNotGoWithOurBatchOptions()
    {
        var result = Mezo.Run("train", "--model", _tiny.Folder, "--task", "sst2", "--data", _folder, "--out", Path.Combine(_folder, "run"),
            "--per_device_train_batch_size", "2", "--micro-batch-size", "2");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.StandardError.Trim(),
            Is.EqualTo("mezo train: --per_device_train_batch_size and --micro-batch-size both set the batch; give Hugging Face's spelling or ours"));
    }
}
