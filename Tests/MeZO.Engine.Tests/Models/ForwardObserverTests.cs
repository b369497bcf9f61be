using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Tests.Reference;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// The named hook after each op of the forward pass (<see cref="IForwardObserver"/>): the names each architecture
/// emits, in the order it computes them, and an observer that changes no result.
/// </summary>
[TestFixture]
public sealed class ForwardObserverTests
{
    private const string PreNormTail = "attn_out attn_residual ffn_norm";

    public static IEnumerable<TestCaseData> Architectures()
    {
        yield return new TestCaseData(TinyVariant.LlamaUntied, "embed",
            $"attn_norm q k v q_rope k_rope attn_context {PreNormTail} ffn_gate ffn_up ffn_act ffn_out ffn_residual", "final_norm logits");
        yield return new TestCaseData(TinyVariant.Qwen2, "embed",
            $"attn_norm q k v q_rope k_rope attn_context {PreNormTail} ffn_gate ffn_up ffn_act ffn_out ffn_residual", "final_norm logits");
        yield return new TestCaseData(TinyVariant.Gpt2, "token_embed embed",
            $"attn_norm qkv q k v attn_context {PreNormTail} ffn_up ffn_act ffn_out ffn_residual", "final_norm logits");
        yield return new TestCaseData(TinyVariant.OptPreLayerNorm, "token_embed embed",
            $"attn_norm q k v attn_context {PreNormTail} ffn_up ffn_act ffn_out ffn_residual", "final_norm logits");
        // OPT-350m: each norm follows its residual add, and the embeddings are projected in and out.
        yield return new TestCaseData(TinyVariant.OptPostLayerNorm, "token_embed project_in embed",
            "q k v attn_context attn_out attn_residual attn_norm ffn_up ffn_act ffn_out ffn_residual ffn_norm", "project_out logits");
    }

    [TestCaseSource(nameof(Architectures))]
    public void EachOpIsSeenByNameAndLayerInTheOrderItRuns(TinyVariant variant, string before, string perLayer, string after)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var cpu = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, cpu);
        var batch = TokenBatch.Pack([[3, 1, 4, 1, 5], [9, 2]], PaddingSide.Left);
        var recorder = new ActivationRecorder();
        using var ws = model.CreateWorkspace(batch.BatchSize, batch.Length);
        ws.Observer = recorder;
        int[] rows = [batch.Row(0, 4), batch.Row(1, 1)];

        model.LogitsAt(ws, batch, rows, new float[rows.Length * model.Spec.VocabSize]);

        var expected = before.Split(' ')
            .Concat(Enumerable.Range(0, model.Spec.NumLayers).SelectMany(l => perLayer.Split(' ').Select(n => $"layers.{l}.{n}")))
            .Concat(after.Split(' '));
        Assert.That(recorder.Recorded.Select(r => r.Key), Is.EqualTo(expected));
        Assert.That(recorder.Recorded.Where(r => r.Name != "logits").Select(r => r.Rows), Is.All.EqualTo(batch.BatchSize * batch.Length));
        Assert.That(recorder.Recorded[^1].Rows, Is.EqualTo(rows.Length), "logits at the asked rows");
    }

    /// <summary>
    /// The hook only reads: logits with a recorder attached are the bits of a pass without one. Unobserved, the pass
    /// hands activations and residual adds to the products (LinearEpilogue), which the CPU runs as the separate ops an
    /// observed pass runs: the same bits, in float32 and in 16-bit compute, for each MLP and norm layout.
    /// </summary>
    [Test]
    public void ObservingChangesNoBit([Values(TinyVariant.Gpt2, TinyVariant.LlamaUntied, TinyVariant.OptPostLayerNorm)] TinyVariant variant,
        [Values(DType.F32, DType.BF16)] DType compute)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var cpu = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, cpu, compute: compute);
        var batch = TokenBatch.Pack([[3, 1, 4, 1, 5, 9]], PaddingSide.Right);
        int[] rows = [0, 1, 2, 3, 4, 5];
        float[] Logits(IForwardObserver? observer)
        {
            using var ws = model.CreateWorkspace(1, batch.Length);
            ws.Observer = observer;
            var logits = new float[rows.Length * model.Spec.VocabSize];
            model.LogitsAt(ws, batch, rows, logits);
            return logits;
        }

        var recorder = new ActivationRecorder();
        var observed = Logits(recorder);

        Assert.That(observed, Is.EqualTo(Logits(null)));
        Assert.That(recorder.Recorded[^1].Values, Is.EqualTo(observed), "the logits it was shown are the ones returned");
    }

    /// <summary>
    /// A lockstep pass reports each stream to its own workspace's observer: the +ε stream's final norm is the one a
    /// single pass under +ε computes, and the −ε stream's differs from it.
    /// </summary>
    [Test]
    public void ALockstepPassReportsEachStreamToItsOwnWorkspacesObserver()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaUntied);
        using var cpu = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, cpu);
        var batch = TokenBatch.Pack([[3, 1, 4, 1, 5, 9]], PaddingSide.Right);
        int[] rows = [0, 1, 2, 3, 4], targets = [1, 4, 1, 5, 9];
        var step = new MezoStep(TrainableSet.Select(model.Weights, nameFilter: null), eps: 1e-2, weightDecay: 0);
        var (plusSeen, minusSeen, singleSeen) = (new ActivationRecorder(), new ActivationRecorder(), new ActivationRecorder());
        using var plusWs = model.CreateWorkspace(1, batch.Length);
        using var minusWs = model.CreateLockstepWorkspace(1, batch.Length);
        using var singleWs = model.CreateWorkspace(1, batch.Length);
        var (plus, minus, single) = (new float[rows.Length], new float[rows.Length], new float[rows.Length]);

        step.Evaluate(seed: 11, p =>
        {
            (plusWs.Observer, minusWs.Observer, singleWs.Observer) = (plusSeen, minusSeen, singleSeen);
            model.ScoreTokensLockstep(plusWs, minusWs, batch, rows, targets, p, plus, minus);
            model.ScoreTokens(singleWs, batch, rows, targets, single, p);
            return new LossPair(0, 0);
        });

        Assert.That(plusSeen.Recorded.Select(r => r.Key), Is.EqualTo(singleSeen.Recorded.Select(r => r.Key)));
        Assert.That(minusSeen.Recorded.Select(r => r.Key), Is.EqualTo(singleSeen.Recorded.Select(r => r.Key)));
        float[] FinalNorm(ActivationRecorder r) => r.Recorded.Single(a => a.Name == "final_norm").Values;
        Assert.That(FinalNorm(plusSeen), Is.EqualTo(FinalNorm(singleSeen)));
        Assert.That(FinalNorm(minusSeen), Is.Not.EqualTo(FinalNorm(plusSeen)));
    }
}
