using MeZO.Engine.Models.Generation;
using MeZO.Engine.Adapters;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Tests.Reference;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Adapters;

/// <summary>The prefix's storage, its fit to the model, and the errors at the boundary.</summary>
[TestFixture]
public sealed class PrefixAdapterTests
{
    [Test]
    public void PromptEmbeddingsHoldEachLayersKeysThenValuesAsPeftLaysThemOut()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        int[] tokens = [3, 14, 15, 92];
        using var prefix = PrefixAdapter.FromActivations(model, tokens);
        var spec = model.Spec;
        int p = tokens.Length, w = spec.KvWidth, columns = spec.NumLayers * 2 * w;
        Assert.That(prefix.Embeddings.Shape, Is.EqualTo(new TensorShape(p, columns)));
        Assert.That(prefix.Embeddings.DType, Is.EqualTo(DType.F32));
        Assert.That(prefix.Parameters.Select(n => n.Name), Is.EqualTo(new[] { "prompt_embeddings" }));

        // What a plain pass over the same tokens shows an observer: each layer's keys after RoPE and its values.
        var recorder = new ActivationRecorder();
        using var ws = model.CreateWorkspace(1, p);
        ws.Observer = recorder;
        var batch = TokenBatch.Pack([tokens], PaddingSide.Right);
        model.LogitsAt(ws, batch, [p - 1], new float[spec.VocabSize]);

        var values = new float[prefix.ElementCount];
        backend.Download<float>(prefix.Embeddings, values);
        for (int l = 0; l < spec.NumLayers; l++)
        {
            float[] keys = Recorded(recorder, "k_rope", l), vals = Recorded(recorder, "v", l); // (P, W) each
            for (int t = 0; t < p; t++)
                for (int c = 0; c < w; c++)
                {
                    Assert.That(values[t * columns + 2 * l * w + c], Is.EqualTo(keys[t * w + c]), $"layer {l} key ({t}, {c})");
                    Assert.That(values[t * columns + (2 * l + 1) * w + c], Is.EqualTo(vals[t * w + c]), $"layer {l} value ({t}, {c})");
                }
        }
        }

    [Test]
    public void APrefixTooLongForTheModelsPositionsIsAClearErrorWhenScoringAndGenerating(
        [Values(TinyVariant.OptPreLayerNorm, TinyVariant.Qwen2, TinyVariant.Gpt2)] TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant, new TinyCheckpointOptions { MaxPositions = 16 });
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var prefix = PrefixAdapter.FromActivations(model, Enumerable.Range(1, 10).ToArray());
        model.Prefix = prefix;
        var batch = TokenBatch.Pack([Enumerable.Range(1, 7).ToArray(), [4, 5]], PaddingSide.Left);
        using var ws = model.CreateWorkspace(batch.BatchSize, batch.Length);

        Assert.That(() => model.ScoreTokens(ws, batch, [batch.Row(0, 0)], [3], new float[1]),
            Throws.TypeOf<InvalidInputException>().With.Message.EqualTo(
                $"10 prefix tokens plus a sequence of 7 tokens exceed the 16 positions of {model.Directory}"));
        Assert.That(() => new TokenGenerator(model).Generate([[1, 2, 3, 4]], maxNewTokens: 3, endOfSequence: null),
            Throws.TypeOf<InvalidInputException>().With.Message.EqualTo(
                $"10 prefix tokens plus a sequence of 7 tokens exceed the 16 positions of {model.Directory}"));
        Assert.That(new TokenGenerator(model).Generate([[1, 2, 3, 4]], maxNewTokens: 2, endOfSequence: null)[0], Has.Length.EqualTo(2),
            "P + prompt + new tokens = 16 positions fit exactly");
    }

    [Test]
    public void APrefixForAnotherShapeOfModelIsRefused()
    {
        using var llama = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        using var opt = TinyCheckpoints.Create(TinyVariant.OptPreLayerNorm);
        using var backend = new CpuBackend();
        using var llamaModel = Transformer.Load(llama.Folder, backend);
        using var optModel = Transformer.Load(opt.Folder, backend);
        using var prefix = PrefixAdapter.Create(llamaModel.Spec, backend, 3);
        Assume.That(optModel.Spec.KvWidth, Is.Not.EqualTo(llamaModel.Spec.KvWidth), "the fixture's two models must differ in key width");

        Assert.That(() => optModel.Prefix = prefix, Throws.ArgumentException.With.Message.Contains("does not fit"));
        Assert.That(optModel.Prefix, Is.Null);
        Assert.That(() => prefix.Upload(new float[prefix.ElementCount - 1]), Throws.ArgumentException.With.Message.Contains("prompt_embeddings"));
    }

    [Test]
    public void AWorkspaceMadeBeforeThePrefixWasSetIsRefused()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Qwen2);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack([[5, 9, 2]], PaddingSide.Right);
        using var early = model.CreateWorkspace(1, batch.Length);
        using var prefix = PrefixAdapter.FromActivations(model, [1, 2]);
        model.Prefix = prefix;

        Assert.That(() => model.ScoreTokens(early, batch, [0], [9], new float[1]),
            Throws.ArgumentException.With.Message.Contains("create workspaces after setting Prefix"));
        Assert.That(() => PrefixAdapter.FromActivations(model, [1, 2]), Throws.ArgumentException.With.Message.Contains("already has a prefix"));
    }

    [Test]
    public void ATrainableSetOfAdapterParametersOrdersThemByNameAndCountsTheirElements()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Qwen2);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        using var prefix = PrefixAdapter.Create(model.Spec, backend, 3);
        using var other = backend.Allocate(new TensorShape(4, 5), DType.F32, MemoryCategory.Weights, "a");
        var set = TrainableSet.Of([.. prefix.Parameters, new NamedTensor("lora_A", other)]);

        Assert.That(set.Tensors.Select(t => t.Parameter.Name), Is.EqualTo(new[] { "lora_A", "prompt_embeddings" }), "ordinal order: 'l' < 'p'");
        Assert.That(set.Tensors.Select(t => t.FirstIndex), Is.EqualTo(new ulong[] { 0, 20 }));
        Assert.That(set.ElementCount, Is.EqualTo(20 + prefix.ElementCount));
        Assert.That(set.Tensors.All(t => t.TakesWeightDecay));
        Assert.That(set.Find(prefix.Embeddings)?.Parameter.Name, Is.EqualTo("prompt_embeddings"));
        Assert.That(set.Find(model.Weights.TokenEmbedding), Is.Null, "the model's own weights stay frozen");
        Assert.That(() => TrainableSet.Of([.. prefix.Parameters, .. prefix.Parameters]), Throws.ArgumentException);
    }

    private static float[] Recorded(ActivationRecorder recorder, string name, int layer) =>
        recorder.Recorded.Single(r => r.Name == name && r.Layer == layer).Values;
}
