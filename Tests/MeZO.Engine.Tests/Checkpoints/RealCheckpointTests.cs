using MeZO.Engine.Checkpoints;
using MeZO.Engine.Tensors;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Checkpoints;

/// <summary>The shared real checkpoints open; names, shapes and dtypes as their headers list them (read with Python's json).</summary>
public class RealCheckpointTests
{
    [TestCase("stories260K", 47, "model.layers.0.mlp.down_proj.weight", DType.F32, new long[] { 64, 172 })]
    [TestCase("stories260K", 47, "model.layers.4.self_attn.k_proj.weight", DType.F32, new long[] { 32, 64 })]
    [TestCase("stories260K", 47, "model.embed_tokens.weight", DType.F32, new long[] { 512, 64 })]
    [TestCase("tiny-random-gpt2", 64, "transformer.h.0.attn.c_attn.weight", DType.F32, new long[] { 32, 96 })]
    [TestCase("tiny-random-gpt2", 64, "transformer.wpe.weight", DType.F32, new long[] { 512, 32 })]
    [TestCase("tiny-random-llama-fp16", 21, "lm_head.weight", DType.F16, new long[] { 32000, 16 })]
    [TestCase("tiny-random-llama-fp16", 21, "model.layers.0.mlp.down_proj.weight", DType.F16, new long[] { 16, 64 })]
    public void Real_model_folder_lists_its_tensors(string model, int tensorCount, string name, DType dtype, long[] shape)
    {
        using var reader = CheckpointReader.Open(SharedData.Path($"models/{model}"));
        Assert.That(reader.TensorNames, Has.Count.EqualTo(tensorCount));
        Assert.That(reader.WeightFiles, Is.EqualTo(new[] { SharedData.Path($"models/{model}/model.safetensors") }));
        var tensor = reader.Get(name);
        Assert.That(tensor.DType, Is.EqualTo(dtype));
        Assert.That(tensor.Shape, Is.EqualTo(shape));
        Assert.That(tensor.ByteLength, Is.EqualTo(shape.Aggregate(1L, (a, b) => a * b) * dtype.SizeOf()));
        Assert.That(reader.ShardOf[name], Is.EqualTo("model.safetensors"));
    }
}
