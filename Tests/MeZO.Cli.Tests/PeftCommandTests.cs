using System.Text.Json;
using MeZO.Engine.Adapters;
using MeZO.Tests.Common;
using MeZO.Trainer.Default;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// The PEFT commands end to end through the real command line: train --peft, score/generate/eval --adapter, merge,
/// and their mistakes, each one line on stderr with exit code 1.
/// </summary>
[Category(TestSpeed.Slow)]
public class PeftCommandTests : BundledDefaultFixture
{
    private string _lora = null!, _prefix = null!;

    [OneTimeSetUp]
    public void TrainOneAdapterOfEachKind()
    {
        _lora = Train("lora", "--peft", "lora", "--lr", "5e-2", "--eps", "1e-2");
        _prefix = Train("prefix", "--peft", "prefix", "--lr", "1", "--eps", "1e-1");
    }

    private string Train(string name, params string[] peft)
    {
        string run = Path.Combine(_root, name);
        var result = MezoProcess.Run([
            "train", "--model", _model, "--task", "sst2", "--data", _data, "--out", run, "--steps", "6", "--train-examples", "32",
            "--eval-examples", "8", "--test-examples", "8", "--batch-size", "4", "--eval-every", "3", .. peft,
        ]);
        Assert.That(result.ExitCode, Is.EqualTo(0), result.Output + result.Error);
        return run;
    }

    private static readonly string[] Ids = ["--ids", "2,5,9,13,20,7,11"];

    private static float[] LogProbs(params string[] args)
    {
        var result = Mezo.Run(["score", .. args, .. Ids, "--json"]);
        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.StandardOutput);
        return json.RootElement.GetProperty("logprobs").EnumerateArray().Select(e => e.GetSingle()).ToArray();
    }

    [Test]
    public void AMergedLoraModelScoresAsTheBaseWithTheAdapter()
    {
        string adapter = Path.Combine(_lora, "model"), merged = Path.Combine(_root, "merged");
        var merge = Mezo.Run("merge", "--model", _model, "--adapter", adapter, "--out", merged);
        Assert.That(merge.ExitCode, Is.EqualTo(0), merge.ToString());

        float[] withAdapter = LogProbs("--model", _model, "--adapter", adapter);
        float[] fromMerged = LogProbs("--model", merged);
        float[] alone = LogProbs("--model", _model);
        // The bypass added at run time and the weights changed once agree to float32 rounding of the activations.
        Assert.That(fromMerged, Is.EqualTo(withAdapter).Within(2e-4f));
        Assert.That(withAdapter, Is.Not.EqualTo(alone).Within(1e-3f), "the trained adapter changes the model");
        Assert.That(File.ReadAllText(Path.Combine(merged, "config.json")), Is.EqualTo(File.ReadAllText(Path.Combine(_model, "config.json"))));
    }

    [TestCase("lora")]
    [TestCase("prefix")]
    public void EvalAndGenerateApplyARunsAdapter(string kind)
    {
        string adapter = Path.Combine(kind == "lora" ? _lora : _prefix, "model");
        var eval = Mezo.Run("eval", "--model", _model, "--task", "sst2", "--data", _data, "--test-examples", "16", "--adapter", adapter, "--json");
        Assert.That(eval.ExitCode, Is.EqualTo(0), eval.ToString());
        using (var json = JsonDocument.Parse(eval.StandardOutput))
            Assert.That(json.RootElement.GetProperty("value").GetDouble(), Is.InRange(0.0, 1.0));
        var generate = Mezo.Run("generate", "--model", _model, "--adapter", adapter, "--ids", "2,5,9", "--max-new-tokens", "3", "--json");
        Assert.That(generate.ExitCode, Is.EqualTo(0), generate.ToString());
    }

    [Test]
    public void APrefixChangesScoresAndCannotBeMerged()
    {
        string adapter = Path.Combine(_prefix, "model");
        Assert.That(AdapterFolder.Describe(adapter).Kind, Is.EqualTo(AdapterKind.Prefix));
        Assert.That(LogProbs("--model", _model, "--adapter", adapter), Is.Not.EqualTo(LogProbs("--model", _model)).Within(1e-3f));
        MezoProcess.AssertOneLineError(MezoProcess.Run("merge", "--model", _model, "--adapter", adapter, "--out", Path.Combine(_root, "m")),
            "nothing to merge");
    }

    [Test]
    public void APrefixPlusAPromptBeyondTheModelsPositionsIsAClearError()
    {
        // The bundled model has 64 positions; 5 prefix tokens leave room for 59.
        string ids = string.Join(',', Enumerable.Repeat(5, 62));
        MezoProcess.AssertOneLineError(MezoProcess.Run("score", "--model", _model, "--adapter", Path.Combine(_prefix, "model"), "--ids", ids),
            "5 prefix tokens plus a sequence of 62 tokens exceed the 64 positions");
    }

    [Test]
    public void LoraTargetsThatMatchNothingListTheModelsModules()
    {
        var result = MezoProcess.Run("train", "--model", _model, "--task", "sst2", "--data", _data, "--out", Path.Combine(_root, "bad-targets"),
            "--peft", "lora", "--lora-targets", "c_attn");
        MezoProcess.AssertOneLineError(result, "match no module");
        Assert.That(result.Error, Does.Contain("q_proj").And.Contain("fc1").And.Contain("out_proj"));
    }

    [TestCase(new[] { "--peft", "lora", "--trainable", "q_proj" }, "--trainable")]
    [TestCase(new[] { "--lora-r", "4" }, "--lora-r applies only with --peft lora")]
    [TestCase(new[] { "--peft", "prefix", "--lora-alpha", "4" }, "--lora-alpha applies only with --peft lora")]
    [TestCase(new[] { "--peft", "lora", "--prefix-tokens", "4" }, "--prefix-tokens applies only with --peft prefix")]
    [TestCase(new[] { "--peft", "ia3" }, "--peft 'ia3' is unknown")]
    public void MisusedPeftOptionsAreOneLine(string[] options, string fragment)
    {
        MezoProcess.AssertOneLineError(MezoProcess.Run([
            "train", "--model", _model, "--task", "sst2", "--data", _data, "--out", Path.Combine(_root, "misuse-" + Guid.NewGuid().ToString("N")), .. options,
        ]), fragment);
    }

    [Test]
    public void AnAdapterFolderGivenAsTheModelSaysToUseAdapter()
    {
        MezoProcess.AssertOneLineError(MezoProcess.Run(["score", "--model", Path.Combine(_lora, "model"), .. Ids]),
            "holds a PEFT adapter (adapter_config.json), not a model: give its base model as --model and this folder as --adapter");
    }

    [Test]
    public void AnAdapterForAnotherBaseIsRefusedNamingIt()
    {
        string adapter = Path.Combine(_root, "moved-adapter");
        Directory.CreateDirectory(adapter);
        foreach (string file in Directory.EnumerateFiles(Path.Combine(_lora, "model"))) File.Copy(file, Path.Combine(adapter, Path.GetFileName(file)));
        string config = Path.Combine(adapter, AdapterFolder.ConfigFile);
        File.WriteAllText(config, File.ReadAllText(config).Replace(_model, "facebook/opt-125m"));
        MezoProcess.AssertOneLineError(MezoProcess.Run(["score", "--model", _model, "--adapter", adapter, .. Ids]), "trained on 'facebook/opt-125m'");
    }
}
