using MeZO.Engine.Checkpoints;
using MeZO.Engine.Tensors;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Checkpoints;

/// <summary>
/// The shared real checkpoints open; names, shapes, dtypes and leading values as Python's json and struct modules read
/// them from the same files.
/// </summary>
public class RealCheckpointTests
{
    [TestCase("stories260K", 47, "model.layers.0.mlp.down_proj.weight", DType.F32, new long[] { 64, 172 })]
    [TestCase("stories260K", 47, "model.layers.4.self_attn.k_proj.weight", DType.F32, new long[] { 32, 64 })]
    [TestCase("stories260K", 47, "model.embed_tokens.weight", DType.F32, new long[] { 512, 64 })]
    [TestCase("tiny-random-gpt2", 64, "transformer.h.0.attn.c_attn.weight", DType.F32, new long[] { 32, 96 })]
    [TestCase("tiny-random-gpt2", 64, "transformer.wpe.weight", DType.F32, new long[] { 512, 32 })]
    [TestCase("tiny-random-llama-fp16", 21, "lm_head.weight", DType.F16, new long[] { 32000, 16 })]
    [TestCase("tiny-random-llama-fp16", 21, "model.layers.0.mlp.down_proj.weight", DType.F16, new long[] { 16, 64 })]
    public void RealModelFolderListsItsTensors(string model, int tensorCount, string name, DType dtype, long[] shape)
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

    // First elements as float32 bit patterns (F16 values widened exactly: 0x9200 = -0.000732421875, 0x25AE = 0.022186279296875).
    [TestCase("stories260K", "model.norm.weight", new uint[] { 0x401D_54EF, 0x3FAF_046E })]
    [TestCase("tiny-random-gpt2", "transformer.wte.weight", new uint[] { 0xBCA9_1BCD, 0x3C4C_CEE1 })]
    [TestCase("tiny-random-gpt2", "transformer.h.0.ln_1.weight", new uint[] { 0x3F80_0000, 0x3F80_0000 })]
    [TestCase("tiny-random-llama-fp16", "lm_head.weight", new uint[] { 0xBA40_0000, 0x3CB5_C000 })]
    public void RealTensorValuesReadBack(string model, string name, uint[] leadingBits)
    {
        using var reader = CheckpointReader.Open(SharedData.Path($"models/{model}"));
        var tensor = reader.Get(name);
        var values = new float[tensor.ElementCount];
        tensor.CopyToSingles(values);
        Assert.That(values.Take(leadingBits.Length).Select(BitConverter.SingleToUInt32Bits), Is.EqualTo(leadingBits));
    }
}
