using System.Text.Json;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// `mezo train`, `eval`, `score` and `generate` with `--max-device-memory` on a real model (stories260K: GQA, rotary, gated
/// MLP, tied head) under a budget below what it holds resident: the same model/ bytes and outputs as the resident run, the device's peak within the budget, and clear
/// errors for a size that is no size and a budget that cannot hold two layers.
/// </summary>
[Category(TestSpeed.Slow)]
public class StreamingCommandTests : BundledDefaultFixture
{
    /// <summary>stories260K in float32 holds 3.3 MiB resident in this run (1.0 MiB of weights); streamed, 2.75 MiB.</summary>
    private const long Budget = 3L << 20;

    private string[] Train(string run, params string[] more) =>
    [
        "train", "--model", SharedData.Path("models/stories260K"), "--task", "sst2", "--data", _data, "--out", run,
        "--train-examples", "8", "--eval-examples", "4", "--test-examples", "4", "--steps", "3", "--batch-size", "4",
        "--lr", "1e-3", "--eval-every", "2", "--weight-decay", "0.1", .. more,
    ];

    private static long PeakOf(string run) =>
        File.ReadLines(Path.Combine(run, "metrics.jsonl"))
            .Select(line => JsonDocument.Parse(line).RootElement)
            .Where(e => e.TryGetProperty("memory_peak", out _))
            .Max(e => e.GetProperty("memory_peak").GetInt64());

    [TestCase("f32")]
    [TestCase("f16")]
    public void AStreamedTrainingRunWritesTheResidentRunsModelWithinTheBudget(string dtype)
    {
        string resident = Path.Combine(_root, "resident-" + dtype), streamed = Path.Combine(_root, "streamed-" + dtype);
        var a = MezoProcess.Run(Train(resident, "--dtype", dtype));
        Assert.That(a.ExitCode, Is.Zero, a.Error);
        var b = MezoProcess.Run(Train(streamed, "--dtype", dtype, "--max-device-memory", "3MiB"));
        Assert.That(b.ExitCode, Is.Zero, b.Error);

        Assert.That(File.ReadAllBytes(Path.Combine(streamed, "model", "model.safetensors")),
            Is.EqualTo(File.ReadAllBytes(Path.Combine(resident, "model", "model.safetensors"))));
        Assert.That(File.ReadAllText(Path.Combine(streamed, "trajectory.jsonl")), Is.EqualTo(File.ReadAllText(Path.Combine(resident, "trajectory.jsonl"))));
        if (dtype == "f32") Assert.That(PeakOf(resident), Is.GreaterThan(Budget), "resident, the model does not fit the budget");
        Assert.That(PeakOf(streamed), Is.LessThanOrEqualTo(Budget));
        Assert.That(File.ReadAllText(Path.Combine(streamed, "run.json")), Does.Not.Contain("memory"), "no recorded setting");
    }

    [Test]
    public void StreamedEvaluationScoresAsTheResidentOneWithinTheBudget()
    {
        string[] Eval(params string[] more) =>
        [
            "eval", "--model", SharedData.Path("models/stories260K"), "--task", "sst2", "--data", _data, "--test-examples", "16",
            "--batch-size", "4", "--json", .. more,
        ];
        var resident = MezoProcess.Run(Eval());
        var streamed = MezoProcess.Run(Eval("--max-device-memory", "2500KiB"));
        Assert.That((resident.ExitCode, streamed.ExitCode), Is.EqualTo((0, 0)), resident.Error + streamed.Error);
        using var a = JsonDocument.Parse(resident.Output);
        using var b = JsonDocument.Parse(streamed.Output);

        Assert.That(b.RootElement.GetProperty("value").GetDouble(), Is.EqualTo(a.RootElement.GetProperty("value").GetDouble()));
        Assert.That(a.RootElement.GetProperty("peak_memory_bytes").GetInt64(), Is.GreaterThan(2500L << 10), "resident, it does not fit");
        Assert.That(b.RootElement.GetProperty("peak_memory_bytes").GetInt64(), Is.LessThanOrEqualTo(2500L << 10));
    }

    [TestCase("score", "--text", "Once upon a time, there was a little girl")]
    [TestCase("generate", "--prompt", "Once upon a time", "--max-new-tokens", "12")]
    public void StreamedScoringAndGenerationGiveTheResidentOutput(params string[] command)
    {
        string[] Run(params string[] more) => [.. command, "--model", SharedData.Path("models/stories260K"), "--json", .. more];
        var resident = MezoProcess.Run(Run());
        var streamed = MezoProcess.Run(Run("--max-device-memory", "2500KiB"));
        Assert.That((resident.ExitCode, streamed.ExitCode), Is.EqualTo((0, 0)), resident.Error + streamed.Error);
        Assert.That(streamed.Output, Is.EqualTo(resident.Output));
        // The same output could come from an option that is never read: a budget that fits no layer proves it streams.
        MezoProcess.AssertOneLineError(MezoProcess.Run(Run("--max-device-memory", "100000")), "--max-device-memory 0.10 MiB is too small for ");
    }

    [Test]
    public void ASizeThatIsNoSizeIsRefusedNamingTheOption()
    {
        MezoProcess.AssertOneLineError(MezoProcess.Run(Train(Path.Combine(_root, "bad-size"), "--max-device-memory", "lots")),
            "--max-device-memory 'lots' is not a size in bytes");
    }

    [Test]
    public void ABudgetBelowTwoLayerSlotsIsOneLineGivingTheNeedAndTheBudget()
    {
        MezoProcess.AssertOneLineError(MezoProcess.Run(Train(Path.Combine(_root, "tiny-budget"), "--max-device-memory", "100000")),
            "--max-device-memory 0.10 MiB is too small for ");
    }
}
