using System.Text.Json;
using MeZO.Tests.Common;
using MeZO.Trainer.Default;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// Backprop through the real command line (issue 12): `train --optimizer`, the memory benchmark and `inspect` whose
/// estimate it checks, and the mistakes each refuses in one line.
/// </summary>
[Category(TestSpeed.Slow)]
public class BackpropCommandTests : BundledDefaultFixture
{

    private string[] Train(string run, params string[] options) =>
    [
        "train", "--model", _model, "--task", "sst2", "--data", _data, "--out", Path.Combine(_root, run), "--steps", "20",
        "--train-examples", "64", "--eval-examples", "16", "--test-examples", "32", "--batch-size", "8", "--eval-every", "10",
        "--checkpoint-every", "10", .. options,
    ];

    [Test]
    public void AdamWTrainsRecordsItselfAndCannotBeReplayed()
    {
        var result = MezoProcess.Run(Train("adamw", "--optimizer", "adamw", "--lr", "3e-3", "--gradient-checkpointing"));
        Assert.That(result.ExitCode, Is.Zero, result.Output + result.Error);
        string run = Path.Combine(_root, "adamw");
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "run.json")));
        var settings = manifest.RootElement.GetProperty("settings");
        Assert.That(settings.GetProperty("optimizer").GetString(), Is.EqualTo("adamw"));
        Assert.That(settings.GetProperty("gradient_checkpointing").GetBoolean(), Is.True);
        Assert.That(File.Exists(Path.Combine(run, "checkpoint", "optimizer.safetensors")), Is.True);
        string metrics = File.ReadAllText(Path.Combine(run, "metrics.jsonl"));
        Assert.That(metrics, Does.Contain("\"memory_gradients\"").And.Contain("\"memory_optimizer_state\""));

        var replay = MezoProcess.Run(["replay", "--base", _model, "--run", run, "--out", Path.Combine(_root, "replayed")]);
        Assert.That(replay.ExitCode, Is.EqualTo(1));
        Assert.That(replay.Error, Does.Contain("not replayable"));
    }

    /// <summary>Backprop through an adapter: the run folder holds PEFT adapter folders, as MeZO's PEFT runs do.</summary>
    [TestCase("lora")]
    [TestCase("prefix")]
    public void AdamWTrainsAnAdapterIntoAdapterFolders(string peft)
    {
        string run = Path.Combine(_root, "adamw-" + peft);
        var result = MezoProcess.Run(Train("adamw-" + peft, "--optimizer", "adamw", "--lr", "1e-2", "--peft", peft));
        Assert.That(result.ExitCode, Is.Zero, result.Output + result.Error);
        foreach (string folder in new[] { "model", "checkpoint" })
        {
            Assert.That(File.Exists(Path.Combine(run, folder, "adapter_config.json")), Is.True, $"{folder}/ is an adapter folder");
            Assert.That(File.Exists(Path.Combine(run, folder, "adapter_model.safetensors")), Is.True, folder);
            Assert.That(File.Exists(Path.Combine(run, folder, "model.safetensors")), Is.False, $"{folder}/ holds no copy of the base");
        }
        Assert.That(File.Exists(Path.Combine(run, "checkpoint", "optimizer.safetensors")), Is.True);
    }

    [TestCase(new[] { "--adam-beta1", "0.8" }, "--adam-beta1 applies to backprop's optimizers")]
    [TestCase(new[] { "--optimizer", "adam" }, "--optimizer 'adam' is unknown (zo-sgd, sgd, adamw)")]
    [TestCase(new[] { "--optimizer", "sgd", "--objective", "accuracy" }, "--objective accuracy is not differentiable")]
    public void MisuseIsRefusedInOneLine(string[] options, string message)
    {
        var result = MezoProcess.Run(Train("refused-" + Guid.NewGuid().ToString("N")[..8], options));
        Assert.That(result.ExitCode, Is.EqualTo(1), result.Output);
        Assert.That(result.Error, Does.Contain(message));
        Assert.That(MezoProcess.ErrorLines(result.Error), Has.Length.EqualTo(1), "one line besides progress");
    }

    /// <summary>
    /// The bar for `mezo inspect`: its estimate within 10 % of what the memory benchmark measures, for every
    /// method, on a real model (stories260K: GQA, rotary, gated MLP) at a batch whose activations dominate.
    /// </summary>
    [Test]
    public void InspectsEstimateIsWithinTenPercentOfTheMeasurement()
    {
        string model = SharedData.Path("models/stories260K");
        var bench = MezoProcess.Run(["bench", "memory", "--model", model, "--batch", "4", "--length", "48", "--steps", "1", "--json"]);
        Assert.That(bench.ExitCode, Is.Zero, bench.Error);
        var inspect = MezoProcess.Run(["inspect", model, "--batch", "4", "--length", "48", "--json"]);
        Assert.That(inspect.ExitCode, Is.Zero, inspect.Error);
        using var measured = JsonDocument.Parse(bench.Output);
        using var estimated = JsonDocument.Parse(inspect.Output);
        var estimates = estimated.RootElement.GetProperty("estimates");
        var methods = measured.RootElement.GetProperty("methods").EnumerateArray().ToDictionary(m => m.GetProperty("method").GetString()!);
        foreach (var (method, key) in new[] { ("MeZO", "mezo"), ("backprop, SGD", "sgd"), ("backprop, AdamW", "adamw"), ("backprop, AdamW, checkpointed", "adamw_checkpointed") })
        {
            double peak = methods[method].GetProperty("engine_peak").GetInt64();
            double estimate = estimates.GetProperty(key).GetProperty("total").GetInt64();
            TestContext.Out.WriteLine($"{method}: measured {peak:N0} B, estimated {estimate:N0} B");
            Assert.That(estimate / peak, Is.InRange(0.9, 1.1), method);
        }
        Assert.That(methods["backprop, AdamW"].GetProperty("engine_peak").GetInt64(), Is.GreaterThan(methods["MeZO"].GetProperty("engine_peak").GetInt64()));
    }
}
