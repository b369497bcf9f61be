using System.Globalization;
using System.Text.RegularExpressions;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// `mezo bench step --backend cuda --plan`: the CUDA backend's step recorded without a GPU from a folder holding only
/// config.json (no weights, no tokenizer), printed per launch, per layer and per step with its roofline time.
/// </summary>
[TestFixture]
public sealed partial class BenchPlanTests
{
    private string _configOnly = null!;

    [OneTimeSetUp]
    public void CopyOnlyTheConfig()
    {
        _configOnly = Path.Combine(Path.GetTempPath(), "mezo-plan-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_configOnly);
        File.Copy(SharedData.Path("models/tiny-random-llama-fp16/config.json"), Path.Combine(_configOnly, "config.json"));
    }

    [OneTimeTearDown]
    public void Delete() => Directory.Delete(_configOnly, recursive: true);

    private static double StepMilliseconds(string output) =>
        double.Parse(StepTime().Match(output) is { Success: true } m ? m.Groups[1].Value : throw new AssertionException("no step time in:\n" + output),
            CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^roofline step time: ([0-9.]+) ms", RegexOptions.Multiline)]
    private static partial Regex StepTime();

    [Test]
    public void AConfigAloneIsPlannedLaunchByLaunchWithTheStepsRooflineTime()
    {
        var result = Mezo.Run("bench", "step", "--backend", "cuda", "--plan", "--model", _configOnly, "--batch-size", "2", "--length", "8");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        string output = result.StandardOutput;
        Assert.That(output, Does.StartWith("roofline ESTIMATE, not a measurement"));
        Assert.That(output, Does.Contain("layer 0").And.Contain("per layer").And.Contain("by kernel, whole step"));
        Assert.That(output, Does.Contain("cublasLt matmul").And.Contain("mezo_attention").And.Contain("mezo_update_f16_exact"),
            "the config's float16 is the dtype planned without --dtype");
        Assert.That(StepMilliseconds(output), Is.GreaterThan(0));
    }

    [Test]
    public void TheSameStepTakesLongerOnASlowerGpu()
    {
        string[] common = ["bench", "step", "--backend", "cuda", "--plan", "--model", _configOnly, "--dtype", "bf16", "--batch-size", "4", "--length", "16"];
        var a100 = Mezo.Run([.. common, "--gpu", "a100"]);
        var h200 = Mezo.Run([.. common, "--gpu", "H200"]);

        Assert.That(a100.ExitCode, Is.EqualTo(0), a100.ToString());
        Assert.That(h200.ExitCode, Is.EqualTo(0), h200.ToString());
        Assert.That(a100.StandardOutput, Does.Contain("A100 80GB SXM").And.Contain("mezo_update_bf16_exact"));
        Assert.That(StepMilliseconds(a100.StandardOutput), Is.GreaterThan(StepMilliseconds(h200.StandardOutput)));
    }

    [TestCase(new[] { "--plan" }, "--plan plans the CUDA backend's step: add --backend cuda")]
    [TestCase(new[] { "--backend", "cpu", "--plan" }, "add --backend cuda (not cpu)")]
    [TestCase(new[] { "--backend", "cuda", "--plan", "--gpu", "v100" }, "--gpu 'v100' is unknown (a100, h100, h200)")]
    [TestCase(new[] { "--backend", "cuda", "--gpu", "h100" }, "--gpu is for --plan")]
    [TestCase(new[] { "--backend", "cuda", "--plan", "--steps", "3" }, "a plan records one step")]
    public void AMistakeExitsWithOneAndOneLine(string[] options, string fragment)
    {
        var result = Mezo.Run(["bench", "step", "--model", _configOnly, .. options]);

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.ErrorLines, Has.Length.EqualTo(1), result.ToString());
        Assert.That(result.StandardError, Does.Contain(fragment));
    }

    [Test]
    public void PlanIsOnlyForTheStepBenchmark()
    {
        var result = Mezo.Run("bench", "forward", "--plan");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.StandardError, Does.Contain("--plan is for 'mezo bench step', not bench forward"));
        Assert.That(result.StandardOutput, Is.Empty, "nothing generated before the options were checked");
    }
}
