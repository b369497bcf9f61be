using System.Text.Json;
using System.Text.Json.Nodes;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Reference;

/// <summary>
/// The generator writes what it says: files a safetensors reader accepts, holding exactly the returned values, under
/// the Hugging Face names and config keys of each architecture (checked against names listed here from
/// transformers' modeling files, not from the generator).
/// </summary>
[TestFixture]
public sealed class TinyCheckpointsTests
{
    private static IEnumerable<TestCaseData> Layouts()
    {
        foreach (var variant in TinyCheckpoints.AllVariants)
            yield return new TestCaseData(variant, DType.F32, false);
        yield return new TestCaseData(TinyVariant.LlamaUntied, DType.BF16, false);
        yield return new TestCaseData(TinyVariant.Gpt2, DType.F16, true);
        yield return new TestCaseData(TinyVariant.OptPostLayerNorm, DType.BF16, true);
    }

    [TestCaseSource(nameof(Layouts))]
    public void WrittenFilesHoldExactlyTheReturnedWeights(TinyVariant variant, DType type, bool sharded)
    {
        using var checkpoint = TinyCheckpoints.Create(variant, new TinyCheckpointOptions { DType = type, Sharded = sharded, Seed = 3 });

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint.Folder, "config.json")))!.AsObject();
        Assert.That(config.ToJsonString(), Is.EqualTo(checkpoint.Config.ToJsonString()));
        var stored = SafetensorsTestReader.ReadFolder(checkpoint.Folder);
        Assert.That(stored.Keys, Is.EquivalentTo(checkpoint.Weights.Keys));
        foreach (var (name, tensor) in checkpoint.Weights)
        {
            Assert.That(stored[name].Shape, Is.EqualTo(tensor.Shape), name);
            Assert.That(stored[name].Values, Is.EqualTo(tensor.Values), name); // bit-exact: the values are already rounded
            Assert.That(tensor.Values.All(v => ReferenceRounding.Round(type, v) == v), name + " holds unrounded values");
        }

        string[] files = sharded
            ? ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
            : ["model.safetensors"];
        foreach (string file in files)
            Assert.That(SafetensorsTestReader.DTypes(Path.Combine(checkpoint.Folder, file)).Values, Is.All.EqualTo(type.SafetensorsName()), file);
        if (sharded)
        {
            using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(checkpoint.Folder, "model.safetensors.index.json")));
            var map = index.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(e => e.Name, e => e.Value.GetString());
            Assert.That(map.Keys, Is.EquivalentTo(checkpoint.Weights.Keys));
            Assert.That(map.Values.Distinct(), Is.EquivalentTo(files), "both shards hold tensors");
            long total = checkpoint.Weights.Values.Sum(t => t.ElementCount * type.SizeOf());
            Assert.That(index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64(), Is.EqualTo(total));
            Assert.That(File.Exists(Path.Combine(checkpoint.Folder, "model.safetensors")), Is.False);
        }
    }

    [Test]
    public void HeaderIsPaddedAndOffsetsAreContiguous()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Qwen2, new TinyCheckpointOptions { DType = DType.BF16 });
        byte[] file = File.ReadAllBytes(Path.Combine(checkpoint.Folder, "model.safetensors"));
        long headerLength = BitConverter.ToInt64(file, 0);
        Assert.That(headerLength % 8, Is.Zero, "the data starts 8-byte aligned");
        using var header = JsonDocument.Parse(file.AsMemory(8, (int)headerLength));
        var ranges = header.RootElement.EnumerateObject().Where(e => e.Name != "__metadata__")
            .Select(e => e.Value.GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt64()).ToArray())
            .OrderBy(r => r[0]).ToList();
        Assert.That(ranges[0][0], Is.Zero);
        for (int i = 1; i < ranges.Count; i++) Assert.That(ranges[i][0], Is.EqualTo(ranges[i - 1][1]), "no gap, no overlap");
        Assert.That(8 + headerLength + ranges[^1][1], Is.EqualTo(file.Length), "the last tensor ends the file");
    }

    [TestCase(TinyVariant.OptPreLayerNorm, "model.decoder.embed_tokens.weight", new[] { 100, 32 })]
    [TestCase(TinyVariant.OptPreLayerNorm, "model.decoder.embed_positions.weight", new[] { 66, 32 })]
    [TestCase(TinyVariant.OptPreLayerNorm, "model.decoder.layers.1.self_attn.out_proj.bias", new[] { 32 })]
    [TestCase(TinyVariant.OptPreLayerNorm, "model.decoder.layers.0.fc1.weight", new[] { 64, 32 })]
    [TestCase(TinyVariant.OptPreLayerNorm, "model.decoder.final_layer_norm.bias", new[] { 32 })]
    [TestCase(TinyVariant.OptPostLayerNorm, "model.decoder.embed_tokens.weight", new[] { 100, 16 })]
    [TestCase(TinyVariant.OptPostLayerNorm, "model.decoder.project_in.weight", new[] { 32, 16 })]
    [TestCase(TinyVariant.OptPostLayerNorm, "model.decoder.project_out.weight", new[] { 16, 32 })]
    [TestCase(TinyVariant.LlamaTied, "model.layers.1.self_attn.k_proj.weight", new[] { 16, 32 })]
    [TestCase(TinyVariant.LlamaUntied, "lm_head.weight", new[] { 100, 32 })]
    [TestCase(TinyVariant.LlamaExplicitHeadDim, "model.layers.0.self_attn.q_proj.weight", new[] { 40, 24 })]
    [TestCase(TinyVariant.LlamaExplicitHeadDim, "model.layers.0.self_attn.o_proj.weight", new[] { 24, 40 })]
    [TestCase(TinyVariant.Mistral, "model.layers.0.self_attn.v_proj.weight", new[] { 8, 32 })]
    [TestCase(TinyVariant.Qwen2, "model.layers.0.self_attn.k_proj.bias", new[] { 24 })]
    [TestCase(TinyVariant.Qwen2, "model.norm.weight", new[] { 48 })]
    [TestCase(TinyVariant.Gpt2, "transformer.h.0.attn.c_attn.weight", new[] { 32, 96 })]
    [TestCase(TinyVariant.Gpt2, "transformer.h.1.mlp.c_fc.weight", new[] { 32, 128 })]
    [TestCase(TinyVariant.Gpt2, "transformer.h.1.mlp.c_proj.weight", new[] { 128, 32 })]
    [TestCase(TinyVariant.Gpt2, "transformer.wpe.weight", new[] { 64, 32 })]
    [TestCase(TinyVariant.Gpt2, "transformer.ln_f.bias", new[] { 32 })]
    public void StoresTheHuggingFaceName(TinyVariant variant, string name, int[] shape)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        Assert.That(checkpoint.Weights, Does.ContainKey(name));
        Assert.That(checkpoint.Weights[name].Shape, Is.EqualTo(shape));
    }

    [TestCase(TinyVariant.OptPreLayerNorm, "lm_head.weight")]                   // tied
    [TestCase(TinyVariant.OptPostLayerNorm, "model.decoder.final_layer_norm.weight")] // post-LN has none
    [TestCase(TinyVariant.LlamaTied, "lm_head.weight")]
    [TestCase(TinyVariant.Qwen2, "model.layers.0.self_attn.o_proj.bias")]        // Qwen2 biases q, k, v only
    [TestCase(TinyVariant.Gpt2, "lm_head.weight")]
    public void LeavesOutWhatTheArchitectureDoesNotStore(TinyVariant variant, string name)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        Assert.That(checkpoint.Weights, Does.Not.ContainKey(name));
    }

    [Test]
    public void ConfigsCarryTheKeysTransformersReads()
    {
        using var opt = TinyCheckpoints.Create(TinyVariant.OptPostLayerNorm);
        Assert.That((bool)opt.Config["do_layer_norm_before"]!, Is.False);
        Assert.That((int)opt.Config["word_embed_proj_dim"]!, Is.EqualTo(16));
        Assert.That((string)opt.Config["activation_function"]!, Is.EqualTo("relu"));
        using var llama = TinyCheckpoints.Create(TinyVariant.LlamaExplicitHeadDim, new TinyCheckpointOptions { PartialRotaryFactor = 0.5 });
        Assert.That((int)llama.Config["head_dim"]!, Is.EqualTo(10));
        Assert.That((double)llama.Config["partial_rotary_factor"]!, Is.EqualTo(0.5));
        using var gpt2 = TinyCheckpoints.Create(TinyVariant.Gpt2, new TinyCheckpointOptions { DType = DType.BF16 });
        Assert.That((string)gpt2.Config["activation_function"]!, Is.EqualTo("gelu_new"));
        Assert.That((string)gpt2.Config["torch_dtype"]!, Is.EqualTo("bfloat16"));
        Assert.That(gpt2.Config["n_inner"], Is.Null);
    }

    [Test]
    public void SameSeedSameWeightsDisposeDeletesTheFolder()
    {
        string folder;
        using (var first = TinyCheckpoints.Create(TinyVariant.Mistral, new TinyCheckpointOptions { Seed = 9 }))
        using (var second = TinyCheckpoints.Create(TinyVariant.Mistral, new TinyCheckpointOptions { Seed = 9 }))
        {
            folder = first.Folder;
            Assert.That(second.Weights["lm_head.weight"].Values, Is.EqualTo(first.Weights["lm_head.weight"].Values));
        }
        Assert.That(Directory.Exists(folder), Is.False);
    }
}
