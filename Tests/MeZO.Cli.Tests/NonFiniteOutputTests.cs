using MeZO.Engine.Tests.Reference;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// stories260K with its first attention norm's weights multiplied by 10^30: every value is finite, so the checkpoint
/// loads, but the forward pass overflows. score, generate and eval must stop with exit 1 and one line naming the model
/// and the non-finite forward pass, and print nothing on stdout (no half a JSON document, no accuracy).
/// </summary>
[TestFixture]
public sealed class NonFiniteOutputTests
{
    private CheckpointEditor _overflowing = null!;

    [OneTimeSetUp]
    public void CreateModel()
    {
        _overflowing = CheckpointEditor.CopyOf(SharedData.Path("models/stories260K"));
        _overflowing.ScaleF32("model.layers.0.input_layernorm.weight", 1e30f);
    }

    [OneTimeTearDown]
    public void DeleteModel() => _overflowing.Dispose();

    private static IEnumerable<TestCaseData> Commands()
    {
        yield return new TestCaseData((object)new[] { "score", "--ids", "1,403,407,261,378", "--json" }).SetName("ScoreJson");
        yield return new TestCaseData((object)new[] { "score", "--ids", "1,403,407,261,378" }).SetName("Score");
        yield return new TestCaseData((object)new[] { "generate", "--ids", "1,403", "--max-new-tokens", "3", "--json" }).SetName("Generate");
        yield return new TestCaseData((object)new[] { "eval", "--task", "sst2", "--data", "{sst2}", "--test-examples", "4", "--batch-size", "2", "--json" })
            .SetName("Eval");
    }

    [TestCaseSource(nameof(Commands))]
    public void ExitsOneWithOneLineAndNoOutput(string[] command)
    {
        string[] args = [.. command.Select(a => a == "{sst2}" ? SharedData.Path("tasks/SST-2") : a), "--model", _overflowing.Folder];

        var result = Mezo.Run(args);

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.StandardOutput, Is.Empty, result.ToString());
        var lines = result.ErrorLines.Where(l => !l.StartsWith("note: ")).ToArray();
        Assert.That(lines, Has.Length.EqualTo(1), result.ToString());
        Assert.That(lines[0], Does.StartWith(_overflowing.Folder).And.Contain("the forward pass produced non-finite values"));
    }

    /// <summary>A NaN bit pattern written into one q_proj element of a copy of stories260K: refused at load, naming it.</summary>
    [Test]
    public void ANaNInTheFileIsRefusedAtLoadNamingFileTensorAndElement()
    {
        using var model = CheckpointEditor.CopyOf(SharedData.Path("models/stories260K"));
        model.WriteElementBits("model.layers.0.self_attn.q_proj.weight", 42, 0x7FC0_0000);

        var result = Mezo.Run("score", "--model", model.Folder, "--ids", "1,403", "--json");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.StandardOutput, Is.Empty);
        Assert.That(result.ErrorLines, Is.EqualTo(new[]
        {
            $"{Path.Combine(model.Folder, "model.safetensors")}: tensor 'model.layers.0.self_attn.q_proj.weight' holds NaN at element 42; weights must be finite",
        }));
    }
}
