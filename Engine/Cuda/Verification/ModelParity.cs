using MeZO.Engine.Backends;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Cuda.Verification;

/// <summary>A whole model on two backends: its logits, and one full MeZO step — the check that the ops compose as they should.</summary>
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

    /// <summary>
    /// One full MeZO step (DESIGN §3) of every parameter of the model on both backends: +εz, the loss, −2εz, the loss,
    /// then the fused restore+update. The losses L+ and L− of the two backends are compared with the tolerance of a
    /// log-probability (at most twice the logits' error: log-softmax moves by the target's logit error plus at most the
    /// largest one). The update then uses the reference's projected gradient on both backends, so the weights compare
    /// what the step itself computes — the z streams and the update arithmetic — and not the difference of two nearly
    /// equal losses divided by 2ε, which amplifies the backends' forward-pass difference by 1/ε (the candidate's own g
    /// is reported beside the reference's).
    /// </summary>
    public static ParityResult MezoStep(string modelDirectory, IBackend reference, IBackend candidate, int length = 9)
    {
        const ulong seed = 0x5EED_0F_57E9;
        const float eps = 1e-3f, learningRate = 1e-3f, weightDecay = 0.1f;
        using var onReference = Transformer.Load(modelDirectory, reference);
        using var onCandidate = Transformer.Load(modelDirectory, candidate);
        var spec = onReference.Spec;
        var random = new ParityRandom(length + 1);
        var batch = TokenBatch.Pack([random.Ints(length, 0, spec.VocabSize), random.Ints(Math.Max(2, length - 3), 0, spec.VocabSize)],
            PaddingSide.Left);
        var rows = new List<int>();
        var targets = new List<int>();
        for (int b = 0; b < batch.BatchSize; b++)
            for (int i = 0; i + 1 < batch.Lengths[b]; i++)
            {
                rows.Add(batch.Row(b, i));
                targets.Add(batch.Ids[batch.Row(b, i + 1)]);
            }

        // The z stream's layout: parameters in ordinal name order, one after another (as a full-parameter TrainableSet).
        static (NamedTensor Parameter, ulong First)[] Layout(Transformer model)
        {
            ulong first = 0;
            return model.Weights.Parameters.OrderBy(p => p.Name, StringComparer.Ordinal)
                .Select(p => { var entry = (p, first); first += (ulong)p.Tensor.ElementCount; return entry; }).ToArray();
        }
        var referenceLayout = Layout(onReference);
        var candidateLayout = Layout(onCandidate);

        (double Plus, double Minus) Losses(Transformer model, (NamedTensor Parameter, ulong First)[] layout)
        {
            using var ws = model.CreateWorkspace(batch.BatchSize, batch.Length);
            var logProbs = new float[rows.Count];
            double Loss()
            {
                model.ScoreTokens(ws, batch, rows.ToArray(), targets.ToArray(), logProbs);
                return -logProbs.Average(v => (double)v);
            }
            foreach (var (p, first) in layout) model.Backend.Perturb(p.Tensor, seed, first, eps);
            double plus = Loss();
            foreach (var (p, first) in layout) model.Backend.Perturb(p.Tensor, seed, first, -2 * eps);
            return (plus, Loss());
        }
        var (referencePlus, referenceMinus) = Losses(onReference, referenceLayout);
        var (candidatePlus, candidateMinus) = Losses(onCandidate, candidateLayout);
        double g = (referencePlus - referenceMinus) / (2 * eps);
        double candidateG = (candidatePlus - candidateMinus) / (2 * eps);

        float maxLogit;
        using (var ws = onReference.CreateWorkspace(batch.BatchSize, batch.Length))
        {
            var logits = new float[rows.Count * spec.VocabSize];
            onReference.LogitsAt(ws, batch, rows.ToArray(), logits);
            maxLogit = logits.Max(Math.Abs);
        }
        var options = (candidate as CudaBackend)?.Options;
        bool float32 = options is null || options.Precision == MatmulPrecision.Float32;
        double lossTolerance = 2 * (float32 ? 1e-4 : 5e-2) * (1 + maxLogit);
        string name = $"{Path.GetFileName(Path.GetFullPath(modelDirectory))}: one MeZO step";
        string detail = $"L+ {referencePlus:G6}/{candidatePlus:G6}, L− {referenceMinus:G6}/{candidateMinus:G6}, g {g:G4}/{candidateG:G4} (CPU/candidate)";
        double lossError = Math.Max(Math.Abs(referencePlus - candidatePlus), Math.Abs(referenceMinus - candidateMinus));
        if (!(lossError <= lossTolerance))
            return new ParityResult("MezoStep", name + ", losses", false, lossError, lossTolerance, detail);

        foreach (var (model, layout) in new[] { (onReference, referenceLayout), (onCandidate, candidateLayout) })
            foreach (var (p, first) in layout)
                model.Backend.PerturbUpdate(p.Tensor, seed, first, eps, learningRate, p.Tensor.Shape.Rank > 1 ? weightDecay : 0, (float)g);

        double zError = BackendParity.NoiseTolerance(options?.Noise ?? NoiseArithmetic.Exact);
        var expected = referenceLayout.SelectMany(e => TensorPair.Read(e.Parameter.Tensor)).ToArray();
        var actual = candidateLayout.SelectMany(e => TensorPair.Read(e.Parameter.Tensor)).ToArray();
        var types = referenceLayout.SelectMany(e => Enumerable.Repeat(e.Parameter.Tensor.DType, (int)e.Parameter.Tensor.ElementCount)).ToArray();
        // As the PerturbUpdate case: with exact z the same operations give the same bits; with fast z the three passes
        // each add z's error times their scale, and each rounds once.
        var result = BackendParity.Compare("MezoStep", name + ", weights", expected, actual,
            i => zError == 0 ? 0 : (4 * eps + learningRate * Math.Abs(g)) * zError + 3 * BackendParity.Ulp(types[i], expected[i]));
        return result with { Detail = (result.Detail.Length > 0 ? result.Detail + "; " : "") + detail };
    }
}
