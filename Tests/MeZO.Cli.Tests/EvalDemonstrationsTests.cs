using System.Text.Json;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>`mezo eval --demonstrations K`, the paper's in-context-learning baseline, end to end on stories260K and SST-2.</summary>
[TestFixture]
public sealed class EvalDemonstrationsTests
{
    private static readonly string[] Sst2OnStories =
        ["eval", "--model", SharedData.Path("models/stories260K"), "--task", "sst2", "--data", SharedData.Path("tasks/SST-2")];

    [Test]
    public void EvalWithFourDemonstrationsReportsAccuracyAndTheCount()
    {
        var result = Mezo.Run([.. Sst2OnStories, "--demonstrations", "4", "--test-examples", "6", "--batch-size", "3", "--json"]);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.StandardOutput);
        JsonElement root = json.RootElement;
        Assert.That(root.GetProperty("metric").GetString(), Is.EqualTo("accuracy"));
        Assert.That(root.GetProperty("demonstrations").GetInt32(), Is.EqualTo(4));
        Assert.That(root.GetProperty("examples").GetInt32(), Is.EqualTo(6));
        // Six examples: the accuracy is a multiple of 1/6.
        double accuracy = root.GetProperty("value").GetDouble();
        Assert.That(accuracy * 6, Is.EqualTo(Math.Round(accuracy * 6)).Within(1e-9));
        Assert.That(accuracy, Is.InRange(0.0, 1.0));
    }

    [Test]
    public void MoreDemonstrationsThanTrainingExamplesIsOneLineError()
    {
        // GLUE's SST-2 training split holds 67,349 sentences.
        var result = Mezo.Run([.. Sst2OnStories, "--demonstrations", "70000", "--test-examples", "2"]);

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.ErrorLines, Has.Length.EqualTo(1), result.ToString());
        Assert.That(result.StandardError, Does.Contain("only 67349 examples").And.Contain("--demonstrations 67349"));
    }

    [Test]
    public void HelpNamesTheDemonstrationsOption()
    {
        var result = Mezo.Run("eval", "--help");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(result.StandardOutput, Does.Contain("--demonstrations K"));
    }
}
