using MeZO.Engine.Tests.Reference;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// DESIGN §5's contract for mistakes: exit code 1 and exactly one line on stderr that says what is wrong, no stack
/// trace (unless --verbose); `--help` on every command exits 0.
/// </summary>
[TestFixture]
public sealed class UserErrorTests
{
    private TinyCheckpoint _tiny = null!;
    private TinyCheckpoint _corrupt = null!;
    private string _missing = null!;

    [OneTimeSetUp]
    public void CreateModels()
    {
        _tiny = TinyCheckpoints.Create(TinyVariant.LlamaTied); // vocabulary 100, no tokenizer.json
        _corrupt = TinyCheckpoints.Create(TinyVariant.Gpt2);
        using (var stream = new FileStream(Path.Combine(_corrupt.Folder, "model.safetensors"), FileMode.Open))
            stream.SetLength(stream.Length - 100); // cut into the last tensor's data
        _missing = Path.Combine(Path.GetTempPath(), "mezo-no-such-model-" + Guid.NewGuid().ToString("N"));
    }

    [OneTimeTearDown]
    public void DeleteModels()
    {
        _tiny.Dispose();
        _corrupt.Dispose();
    }

    /// <summary>Arguments with {tiny}, {corrupt}, {missing}, {file} (a file that is not a folder) and {gpt2} standing for the fixture's folders, and a fragment the error line must contain.</summary>
    public static IEnumerable<TestCaseData> Mistakes()
    {
        TestCaseData Case(string name, string fragment, params string[] args) => new TestCaseData(args, fragment).SetName("Mistake" + name);
        yield return Case("MissingModel", "--model is required", "score", "--ids", "1,2");
        yield return Case("ModelWithoutValue", "--model has no value", "score", "--ids", "1,2", "--model");
        yield return Case("RepeatedOption", "--ids is given twice", "score", "--model", "{tiny}", "--ids", "1", "--ids", "2");
        yield return Case("RepeatedOptionInline", "--model is given twice", "score", "--model", "{tiny}", "--model={tiny}", "--ids", "1");
        yield return Case("OptionTakenAsValue", "--steps has no value", "train", "--steps", "--out", "{missing}");
        yield return Case("ReplayOutIsAFile", "is a file, not a model folder", "replay", "--base", "{tiny}", "--run", "{missing}", "--out", "{file}");
        yield return Case("ResumeWithoutARun", "holds no run to resume (no run.json)", "train", "--out", "{missing}", "--resume");
        yield return Case("UnknownOption", "unknown option --bogus", "score", "--model", "{tiny}", "--ids", "1", "--bogus");
        yield return Case("UnknownCommand", "unknown command 'frobnicate'", "frobnicate", "--model", "{tiny}");
        yield return Case("NonexistentFolder", "does not exist", "score", "--model", "{missing}", "--ids", "1");
        yield return Case("NonexistentFolderInspect", "does not exist", "inspect", "{missing}");
        yield return Case("InspectWithoutFolder", "give the model folder", "inspect");
        yield return Case("CorruptSafetensors", "model.safetensors", "score", "--model", "{corrupt}", "--ids", "1");
        yield return Case("CorruptSafetensorsGenerate", "model.safetensors", "generate", "--model", "{corrupt}", "--ids", "1");
        yield return Case("TokenIdOutsideVocabulary", "token id 100 is outside the vocabulary", "score", "--model", "{tiny}", "--ids", "1,100");
        yield return Case("NegativeTokenId", "token id -4 is outside the vocabulary", "score", "--model", "{tiny}", "--ids", "1,-4");
        // tiny-random-gpt2's tokenizer knows GPT-2's 50257 tokens, its model only 1000 ids.
        yield return Case("GenerateTokenIdOutsideVocabulary", "token id 1000 is outside the vocabulary", "generate", "--model", "{gpt2}", "--ids", "5,1000");
        yield return Case("IdsNotIntegers", "comma-separated integers", "score", "--model", "{tiny}", "--ids", "1,x");
        yield return Case("EmptyIds", "the sequence is empty", "score", "--model", "{tiny}", "--ids", "");
        yield return Case("BothIdsAndText", "exactly one of --ids or --text", "score", "--model", "{tiny}", "--ids", "1", "--text", "a");
        yield return Case("BothIdsAndPrompt", "exactly one of --prompt or --ids", "generate", "--model", "{tiny}", "--ids", "1", "--prompt", "a");
        yield return Case("NegativeMaxNewTokens", "--max-new-tokens must not be negative", "generate", "--model", "{tiny}", "--ids", "1", "--max-new-tokens", "-3");
        yield return Case("MaxNewTokensNotAnInteger", "--max-new-tokens must be an integer", "generate", "--model", "{tiny}", "--ids", "1", "--max-new-tokens", "many");
        yield return Case("TextWithoutTokenizer", "tokenizer.json: missing", "score", "--model", "{tiny}", "--text", "hello");
        yield return Case("UnknownBackend", "--backend 'tpu' is unknown", "score", "--model", "{tiny}", "--ids", "1", "--backend", "tpu");
        yield return Case("UnknownDtype", "--dtype 'f8' is unknown", "score", "--model", "{tiny}", "--ids", "1", "--dtype", "f8");
        yield return Case("InspectBadBatch", "--batch-size and --length must be positive", "inspect", "{tiny}", "--batch", "0");
    }

    [TestCaseSource(nameof(Mistakes))]
    public void AMistakeExitsWithOneAndOneLineOnStandardError(string[] args, string fragment)
    {
        var result = Mezo.Run(args.Select(Substitute).ToArray());

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.ErrorLines, Has.Length.EqualTo(1), result.ToString());
        Assert.That(result.StandardError, Does.Contain(fragment));
        Assert.That(result.StandardError, Does.Not.Contain("   at ").And.Not.Contain("Exception"), "no stack trace, no exception name");
    }

    /// <summary>Without --model, bench writes an OPT-125m-sized checkpoint (half a GiB) first: a mistake must not wait for it.</summary>
    [TestCase(new[] { "bench", "speed" }, "unknown benchmark 'speed'")]
    [TestCase(new[] { "bench", "forward", "--batch", "0" }, "--batch-size, --length and --repeat must be positive")]
    [TestCase(new[] { "bench", "memory", "--steps", "0" }, "--batch-size and --steps must be positive")]
    [TestCase(new[] { "bench", "step", "--length", "1" }, "--length at least 2")]
    [TestCase(new[] { "bench", "step", "--backend", "tpu" }, "--backend 'tpu' is unknown")]
    [TestCase(new[] { "bench", "forward", "--backend", "cuda" }, "--backend is for 'mezo bench step'")]
    [TestCase(new[] { "bench", "forward", "--json" }, "--json is for 'mezo bench estimator' and 'memory'")]
    [TestCase(new[] { "bench", "estimator", "--seeds", "0" }, "--batch-size and --seeds must be positive")]
    public void BenchAMistakeIsReportedBeforeAnyCheckpointIsGenerated(string[] args, string fragment)
    {
        var result = Mezo.Run(args);

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.ErrorLines, Has.Length.EqualTo(1), result.ToString());
        Assert.That(result.StandardError, Does.Contain(fragment));
        Assert.That(result.StandardOutput, Is.Empty, "nothing generated before the options were checked");
    }

    [Test]
    public void VerbosePrintsTheStackTrace()
    {
        var result = Mezo.Run("score", "--model", _missing, "--ids", "1", "--verbose");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.StandardError, Does.Contain("does not exist").And.Contain("   at "));
    }

    [TestCase("score")]
    [TestCase("grad")]
    [TestCase("generate")]
    [TestCase("inspect")]
    public void HelpOnEveryCommandExitsWithZero(string command)
    {
        var result = Mezo.Run(command, "--help");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.StandardError, Is.Empty);
        Assert.That(result.StandardOutput, Does.Contain($"mezo {command}"));
    }

    [Test]
    public void HelpOfTheProgramListsEveryCommand()
    {
        var result = Mezo.Run("--help");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.StandardOutput, Does.Contain("score").And.Contain("generate").And.Contain("inspect"));
    }

    private string Substitute(string arg) => arg switch
    {
        "{tiny}" => _tiny.Folder,
        "{corrupt}" => _corrupt.Folder,
        "{missing}" => _missing,
        "{file}" => Path.Combine(_tiny.Folder, "config.json"),
        "{gpt2}" => SharedData.Path("models/tiny-random-gpt2"),
        _ => arg,
    };
}
