using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using MeZO.Engine.Models;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>`mezo grad`: a safetensors file of one float32 gradient per stored weight, checked against the oracle.</summary>
[TestFixture]
public sealed class GradCommandTests
{
    private string _root = null!;

    [SetUp]
    public void CreateRoot()
    {
        _root = Path.Combine(Path.GetTempPath(), "mezo-cli-grad-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [TearDown]
    public void DeleteRoot() => Directory.Delete(_root, recursive: true);

    /// <summary>
    /// GPT-2 ties its head, has learned positions and a fused c_attn: the file must hold wte's gradient summed over
    /// both uses and no lm_head, and match the oracle's finite difference along a random direction over every weight.
    /// </summary>
    [Test]
    public void GradientFileHoldsEveryWeightAndMatchesTheOraclesFiniteDifference()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Gpt2);
        int[] ids = [5, 17, 42, 99, 0, 63, 8];
        string path = Path.Combine(_root, "grad.safetensors");

        var result = Mezo.Run("grad", "--model", checkpoint.Folder, "--ids", string.Join(",", ids), "--out", path);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var gradients = SafetensorsTestReader.Read(path);
        Assert.That(gradients.Keys, Is.EquivalentTo(checkpoint.Weights.Keys));
        Assert.That(SafetensorsTestReader.DTypes(path).Values.Distinct(), Is.EqualTo(new[] { "F32" }));
        foreach (var (name, weight) in checkpoint.Weights)
            Assert.That(gradients[name].Shape, Is.EqualTo(weight.Shape), name);

        var batch = TokenBatch.Pack([ids], PaddingSide.Right);
        int[] rows = Enumerable.Range(0, ids.Length - 1).ToArray();
        int[] targets = ids[1..];
        double loss = GradientOracle.Loss(checkpoint, checkpoint.Weights, batch, rows, targets);
        // The summed NLL in double from float32 log-probabilities: ParityRuns' 1e-5 of its size, as `mezo score` is held.
        Assert.That(double.Parse(Metadata(path)["loss"], System.Globalization.CultureInfo.InvariantCulture),
            Is.EqualTo(loss).Within(1e-5 * Math.Max(1, loss)), "metadata loss");
        var rng = new Random(11);
        var d = checkpoint.Weights.ToDictionary(p => p.Key, p => GradientOracle.Normal(rng, p.Value.Values.Length));
        GradientOracle.AssertDirectionalDerivative(checkpoint, name => gradients[name].Values, d, batch, rows, targets, "mezo grad");
    }

    [Test]
    public void ASingleTokenIsAUserErrorAndWritesNothing()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        string path = Path.Combine(_root, "grad.safetensors");

        var result = Mezo.Run("grad", "--model", checkpoint.Folder, "--ids", "5", "--out", path);

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.ErrorLines, Has.Length.EqualTo(1));
        Assert.That(result.StandardError, Does.Contain("at least two tokens"));
        Assert.That(File.Exists(path), Is.False);
    }

    /// <summary>The file's __metadata__ strings.</summary>
    private static Dictionary<string, string> Metadata(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        int length = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(file, 8, length));
        return header.RootElement.GetProperty("__metadata__").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
    }
}
