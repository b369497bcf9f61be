using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// Real checkpoints copied and damaged on disk with a NaN or ±∞ bit pattern in one element: loading refuses them with
/// one line naming the file, the tensor and the element, whether the weights are kept in the file's dtype or
/// converted (--dtype).
/// </summary>
[TestFixture]
public sealed class NonFiniteWeightLoadTests
{
    private const uint NaN32 = 0x7FC0_0000, PositiveInfinity16 = 0x7C00, NegativeInfinityBf16 = 0xFF80;

    [Test]
    public void AnF32CheckpointWithANaNIsRefused([Values(null, DType.F32, DType.F16, DType.BF16)] DType? storage)
    {
        using var model = CheckpointEditor.CopyOf(SharedData.Path("models/stories260K"));
        model.WriteElementBits("model.layers.3.self_attn.k_proj.weight", 17, NaN32);
        AssertRefused(model.Folder, storage, "model.layers.3.self_attn.k_proj.weight", "NaN", 17);
    }

    [Test]
    public void AnF16CheckpointWithAnInfinityIsRefused([Values(null, DType.F32, DType.BF16)] DType? storage)
    {
        using var model = CheckpointEditor.CopyOf(SharedData.Path("models/tiny-random-llama-fp16"));
        model.WriteElementBits("model.layers.1.mlp.up_proj.weight", 1023, PositiveInfinity16); // the last element
        AssertRefused(model.Folder, storage, "model.layers.1.mlp.up_proj.weight", "+∞", 1023);
    }

    [Test]
    public void ABf16CheckpointWithANegativeInfinityIsRefused([Values(null, DType.F32, DType.F16)] DType? storage)
    {
        using var written = TinyCheckpoints.Create(TinyVariant.LlamaTied, new TinyCheckpointOptions { DType = DType.BF16 });
        using var model = CheckpointEditor.CopyOf(written.Folder);
        model.WriteElementBits("model.embed_tokens.weight", 0, NegativeInfinityBf16);
        AssertRefused(model.Folder, storage, "model.embed_tokens.weight", "−∞", 0);
    }

    [Test]
    public void OfTwoDamagedTensorsTheFirstLoadedIsNamed()
    {
        using var model = CheckpointEditor.CopyOf(SharedData.Path("models/stories260K"));
        model.WriteElementBits("model.layers.4.mlp.down_proj.weight", 3, NaN32);
        model.WriteElementBits("model.layers.1.self_attn.q_proj.weight", 5, NaN32);
        AssertRefused(model.Folder, null, "model.layers.1.self_attn.q_proj.weight", "NaN", 5);
    }

    private static void AssertRefused(string folder, DType? storage, string tensor, string what, long element)
    {
        using var backend = new CpuBackend();
        var e = Assert.Throws<InvalidInputException>(() => Transformer.Load(folder, backend, storage).Dispose())!;
        Assert.That(e.Message, Is.EqualTo(
            $"{Path.Combine(folder, "model.safetensors")}: tensor '{tensor}' holds {what} at element {element}; weights must be finite"));
    }
}
