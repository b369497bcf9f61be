using MeZO.Engine.Backends;
using MeZO.Engine.Models;

namespace MeZO.Engine.Cuda.Verification;

/// <summary>A whole model's logits on two backends: the check that the ops compose as they should.</summary>
public static class ModelParity
{
    /// <summary>
    /// Loads the model on both backends and compares the logits of every real token of a padded batch (one full
    /// sequence, one shorter, right-padded) of deterministic random ids. The tolerance is relative to the largest
    /// logit: per-op differences compound through the layers' residual stream, about L·2^-22 in float32 and L·2^-8
    /// with bf16 matrix inputs; the factors below leave room for both.
    /// </summary>
    public static ParityResult Logits(string modelDirectory, IBackend reference, IBackend candidate, int length = 9)
    {
        using var onReference = Transformer.Load(modelDirectory, reference);
        using var onCandidate = Transformer.Load(modelDirectory, candidate);
        var spec = onReference.Spec;
        var random = new ParityRandom(length);
        var batch = TokenBatch.Pack([random.Ints(length, 0, spec.VocabSize), random.Ints(Math.Max(1, length - 3), 0, spec.VocabSize)],
            PaddingSide.Right);
        var rows = Enumerable.Range(0, batch.BatchSize).SelectMany(b => Enumerable.Range(0, batch.Lengths[b]).Select(i => batch.Row(b, i))).ToArray();
        float[] LogitsOn(Transformer model)
        {
            using var ws = model.CreateWorkspace(batch.BatchSize, batch.Length);
            var logits = new float[rows.Length * spec.VocabSize];
            model.LogitsAt(ws, batch, rows, logits);
            return logits;
        }
        var expected = LogitsOn(onReference);
        var actual = LogitsOn(onCandidate);
        bool float32 = candidate is not CudaBackend cuda || cuda.Options.Precision == MatmulPrecision.Float32;
        double relative = float32 ? 1e-4 : 5e-2;
        double tolerance = relative * (1 + expected.Max(v => Math.Abs(v)));
        return BackendParity.Compare("Transformer", $"{Path.GetFileName(Path.GetFullPath(modelDirectory))} logits, {rows.Length} tokens",
            expected, actual, _ => tolerance);
    }
}
