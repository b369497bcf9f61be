using MeZO.Engine.Models;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// Which layers of a three-layer config attend through a sliding window, and how wide it is, against what transformers
/// derives from the same keys (configuration_mistral.py, configuration_qwen2.py's __post_init__, modeling_llama.py),
/// listed here by hand.
/// </summary>
[TestFixture]
public sealed class SlidingWindowConfigTests
{
    [TestCase("mistral", """ "sliding_window": 4 """, new[] { 4, 4, 4 }, TestName = "MistralEveryLayer")]
    [TestCase("mistral", "", new[] { 4096, 4096, 4096 }, TestName = "MistralWithoutTheKeyTakesMistralConfigsDefault")]
    [TestCase("mistral", """ "sliding_window": null """, new[] { 0, 0, 0 }, TestName = "MistralNullWindowIsNone")]
    [TestCase("mistral", """ "sliding_window": 4, "layer_types": ["full_attention", "sliding_attention", "full_attention"] """,
        new[] { 4, 4, 4 }, TestName = "MistralIgnoresLayerTypes")]
    [TestCase("qwen2", """ "use_sliding_window": false, "sliding_window": 4, "max_window_layers": 0 """, new[] { 0, 0, 0 },
        TestName = "Qwen2WithoutUseSlidingWindowIsNone")]
    [TestCase("qwen2", """ "use_sliding_window": true, "sliding_window": 4, "max_window_layers": 1 """, new[] { 0, 4, 4 },
        TestName = "Qwen2LayersFromMaxWindowLayersOn")]
    [TestCase("qwen2", """ "use_sliding_window": true, "sliding_window": 4 """, new[] { 0, 0, 0 },
        TestName = "Qwen2MaxWindowLayersDefault28SparesAShallowModel")]
    [TestCase("qwen2", """ "use_sliding_window": true, "max_window_layers": 2 """, new[] { 0, 0, 4096 },
        TestName = "Qwen2WithoutTheWindowKeyTakesQwen2ConfigsDefault")]
    [TestCase("qwen2", """ "use_sliding_window": true, "sliding_window": null, "max_window_layers": 0 """, new[] { 0, 0, 0 },
        TestName = "Qwen2NullWindowIsNone")]
    [TestCase("qwen2", """ "use_sliding_window": true, "sliding_window": 4, "max_window_layers": 1, "layer_types": ["sliding_attention", "full_attention", "sliding_attention"] """,
        new[] { 4, 0, 4 }, TestName = "Qwen2LayerTypesOverMaxWindowLayers")]
    [TestCase("qwen2", """ "use_sliding_window": false, "layer_types": ["full_attention", "full_attention", "full_attention"] """,
        new[] { 0, 0, 0 }, TestName = "Qwen2LayerTypesAllFull")]
    [TestCase("llama", """ "sliding_window": 4 """, new[] { 0, 0, 0 }, TestName = "LlamaHasNoWindow")]
    public void LayerWindowsFollowTransformers(string modelType, string keys, int[] expected)
    {
        string extra = keys.Trim().Length > 0 ? ", " + keys : "";
        string json = $$"""
            {"model_type": "{{modelType}}", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 3,
             "num_attention_heads": 2, "max_position_embeddings": 64{{extra}}}
            """;

        var spec = ModelConfigReader.Parse("config.json", json);

        Assert.That(Enumerable.Range(0, 3).Select(spec.AttentionWindow), Is.EqualTo(expected));
        Assert.That(spec.SlidingWindow, expected.Any(w => w > 0) ? Is.EqualTo(expected.Max()) : Is.Null);
    }
}
