using System.Text.Json;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>`mezo inspect DIR`: the architecture from config.json and the parameter count by dtype, counted by hand from the shapes.</summary>
[TestFixture]
public sealed class InspectCommandTests
{
    [Test]
    public void JsonOnStories260KDescribesItsArchitectureAndParameters()
    {
        var result = Mezo.Run("inspect", SharedData.Path("models/stories260K"), "--json");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        using var json = JsonDocument.Parse(result.StandardOutput);
        var root = json.RootElement;
        Assert.That(root.GetProperty("model_type").GetString(), Is.EqualTo("llama"));
        Assert.That(root.GetProperty("layers").GetInt32(), Is.EqualTo(5));
        Assert.That(root.GetProperty("heads").GetInt32(), Is.EqualTo(8));
        Assert.That(root.GetProperty("kv_heads").GetInt32(), Is.EqualTo(4));
        Assert.That(root.GetProperty("head_dim").GetInt32(), Is.EqualTo(8));
        // Tied embedding 512·64 = 32768; per layer q 64·64 + k, v 32·64 each + o 64·64 + gate, up, down 172·64 each
        // + two norms of 64 = 45440, five layers 227200; final norm 64. Total 260032, all F32.
        Assert.That(root.GetProperty("parameters").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64()),
            Is.EqualTo(new Dictionary<string, long> { ["F32"] = 260032 }));
        Assert.That(root.GetProperty("weight_bytes").GetInt64(), Is.GreaterThanOrEqualTo(260032L * 4));
        Assert.That(root.GetProperty("mezo_bytes").GetInt64(), Is.LessThan(root.GetProperty("backprop_adamw_bytes").GetInt64()));
    }

    [Test]
    public void TextOnTinyRandomLlamaFp16NamesTheArchitectureAndTheF16Parameters()
    {
        var result = Mezo.Run("inspect", SharedData.Path("models/tiny-random-llama-fp16"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.StandardError, Is.Empty);
        // Untied embedding and head 2·32000·16 = 1024000; per layer 4·16·16 + 3·64·16 + 2·16 = 4128, two layers 8256;
        // final norm 16. Total 1032272 ≈ "1.03M".
        Assert.That(result.StandardOutput, Does.Contain("llama: 2 layers").And.Contain("1.03M F16"));
    }

    [Test]
    public void JsonOnACheckpointWithoutTheWrapperPrefixCountsItsStoredDTypes()
    {
        // GPT-2 checkpoints as OpenAI published them name tensors "h.0.attn.c_attn.weight", not
        // "transformer.h.0...": the loader accepts both, and inspect must read the same tensors.
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Gpt2, new TinyCheckpointOptions { DType = DType.F16 });
        SafetensorsTestWriter.Write(Path.Combine(checkpoint.Folder, "model.safetensors"), DType.F16,
            checkpoint.Weights.Select(w => KeyValuePair.Create(w.Key["transformer.".Length..], w.Value)).OrderBy(w => w.Key, StringComparer.Ordinal));
        long stored = checkpoint.Weights.Values.Sum(t => t.ElementCount); // the tied head is not stored

        var result = Mezo.Run("inspect", checkpoint.Folder, "--json");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        using var json = JsonDocument.Parse(result.StandardOutput);
        Assert.That(json.RootElement.GetProperty("parameters").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64()),
            Is.EqualTo(new Dictionary<string, long> { ["F16"] = stored }));
    }
}
