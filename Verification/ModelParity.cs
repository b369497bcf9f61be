using MeZO.Engine.Adapters;
using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Verification;

/// <summary>A whole model on two backends: its logits, and one full MeZO step — the check that the ops compose as they should.</summary>
public static class ModelParity
{
    /// <summary>
    /// Loads the model on both backends, computing in <paramref name="compute"/> on each (so a 16-bit candidate meets the
    /// CPU's rounding points, not its float32), with the same <paramref name="adapter"/> attached to each, and compares
    /// them op by op, then by their logits (the overload below).
    /// </summary>
    public static ParityResult Logits(string modelDirectory, IBackend reference, IBackend candidate, int length = 9,
        AdapterUnderTest adapter = AdapterUnderTest.None, DType compute = DType.F32)
    {
        using var onReference = Transformer.Load(modelDirectory, reference, compute: compute);
        using var onCandidate = Transformer.Load(modelDirectory, candidate, compute: compute);
        using var referenceAdapter = ParityAdapters.Attach(onReference, adapter);
        using var candidateAdapter = ParityAdapters.Attach(onCandidate, adapter);
        var result = Logits(onReference, onCandidate, length);
        result = compute == DType.F32 ? result : result with { Case = $"{result.Case}, {compute} compute" };
        return adapter == AdapterUnderTest.None ? result : result with { Case = $"{result.Case} with {ParityAdapters.Describe(adapter)}" };
    }

    /// <summary>
    /// Runs a padded batch (one full sequence, one shorter, right-padded) of deterministic random ids through both
    /// models and compares every named intermediate (<see cref="IForwardObserver"/>) in the order the pass computes
    /// them, at the real tokens' rows: the first op beyond its tolerance fails the check, and the result's case names it
    /// (<c>tiny-llama: layers.1.ffn_up</c>), so a mismatch points at the op that made it rather than at the logits it
    /// reaches. When every op agrees, the logits of every real token are compared within <see cref="LogitTolerance"/>
    /// of the largest logit.
    /// </summary>
    public static ParityResult Logits(Transformer reference, Transformer candidate, int length = 9)
    {
        var spec = reference.Spec;
        var random = new ParityRandom(length);
        var batch = TokenBatch.Pack([random.Ints(length, 0, spec.VocabSize), random.Ints(Math.Max(1, length - 3), 0, spec.VocabSize)],
            PaddingSide.Right);
        var rows = Enumerable.Range(0, batch.BatchSize).SelectMany(b => Enumerable.Range(0, batch.Lengths[b]).Select(i => batch.Row(b, i))).ToArray();
        (float[] Logits, IReadOnlyList<RecordedActivation> Ops) Run(Transformer model)
        {
            using var ws = model.CreateWorkspace(batch.BatchSize, batch.Length);
            var recorder = new ActivationRecorder();
            ws.Observer = recorder;
            var logits = new float[rows.Length * spec.VocabSize];
            model.LogitsAt(ws, batch, rows, logits);
            return (logits, recorder.Recorded);
        }
        var (expected, expectedOps) = Run(reference);
        var (actual, actualOps) = Run(candidate);
        string name = Path.GetFileName(reference.Directory);
        double relative = LogitTolerance(candidate.Backend, candidate.Compute);
        if (FirstDivergence(name, expectedOps, actualOps, rows, relative) is { } first) return first;
        double tolerance = relative * (1 + expected.Max(v => Math.Abs(v)));
        return BackendParity.Compare("Transformer", $"{name} logits, {rows.Length} tokens", expected, actual, _ => tolerance);
    }

    /// <summary>
    /// The first op whose values at <paramref name="rows"/> differ by more than <paramref name="relative"/> of
    /// (1 + its largest reference magnitude), or null. Each op is held to the logits' relative tolerance: that one
    /// already allows for the error compounded through every layer, so an op's own share stays well inside it, while a
    /// wrong op is off by the order of its values. The logits are left to the caller, which compares them as before.
    /// </summary>
    private static ParityResult? FirstDivergence(string model, IReadOnlyList<RecordedActivation> expected,
        IReadOnlyList<RecordedActivation> actual, int[] rows, double relative)
    {
        if (!expected.Select(o => o.Key).SequenceEqual(actual.Select(o => o.Key)))
            throw new InvalidOperationException($"{model}: the two backends emitted different ops: " +
                $"{string.Join(" ", expected.Select(o => o.Key))} vs {string.Join(" ", actual.Select(o => o.Key))}");
        for (int i = 0; i < expected.Count; i++)
        {
            if (expected[i].Name == "logits") continue;
            float[] want = AtRows(expected[i], rows), got = AtRows(actual[i], rows);
            double tolerance = relative * (1 + want.Max(v => Math.Abs(v)));
            var result = BackendParity.Compare("Transformer", $"{model}: {expected[i].Key}", want, got, _ => tolerance);
            if (!result.Passed)
                return result with { Detail = $"the first of {expected.Count} ops beyond tolerance; {result.Detail}".TrimEnd(' ', ';') };
        }
        return null;
    }

    /// <summary>An op's values at the given flat rows, one after the other: padding rows are the backends' to fill as they like.</summary>
    private static float[] AtRows(RecordedActivation op, int[] rows) => rows.SelectMany(r => op.Row(r).ToArray()).ToArray();

    /// <summary>
    /// One full MeZO step (DESIGN §3) of every parameter of the model on both backends, through <see cref="Engine.Mezo.MezoStep"/>:
    /// L+ and L− in one lockstep sweep, then the update. The losses of the two backends are compared with the
    /// tolerance of a log-probability (at most twice the logits' error: log-softmax moves by the target's logit error
    /// plus at most the largest one). The update then uses the reference's projected gradient on both backends, so the
    /// weights compare what the step itself computes — the z streams, the update arithmetic and its stochastic
    /// rounding — and not the difference of two nearly equal losses divided by 2ε, which amplifies the backends'
    /// forward-pass difference by 1/ε (the candidate's own g is reported beside the reference's).
    /// </summary>
    /// <remarks>With an <paramref name="adapter"/>, the step perturbs and updates the adapter's tensors only.</remarks>
    public static ParityResult MezoStep(string modelDirectory, IBackend reference, IBackend candidate, int length = 9,
        AdapterUnderTest adapter = AdapterUnderTest.None, DType compute = DType.F32)
    {
        const ulong seed = 0x5EED_0F_57E9;
        const double eps = 1e-3, learningRate = 1e-3, weightDecay = 0.1;
        using var onReference = Transformer.Load(modelDirectory, reference, compute: compute);
        using var onCandidate = Transformer.Load(modelDirectory, candidate, compute: compute);
        using var referenceAdapter = ParityAdapters.Attach(onReference, adapter);
        using var candidateAdapter = ParityAdapters.Attach(onCandidate, adapter);
        var spec = onReference.Spec;
        var random = new ParityRandom(length + 1);
        var batch = TokenBatch.Pack([random.Ints(length, 0, spec.VocabSize), random.Ints(Math.Max(2, length - 3), 0, spec.VocabSize)],
            PaddingSide.Left);
        var pairs = Enumerable.Range(0, batch.BatchSize)
            .SelectMany(b => Enumerable.Range(0, batch.Lengths[b] - 1).Select(i => (Row: batch.Row(b, i), Next: batch.Row(b, i + 1))))
            .ToArray();
        int[] rows = pairs.Select(p => p.Row).ToArray();
        int[] targets = pairs.Select(p => batch.Ids[p.Next]).ToArray();
        Engine.Mezo.MezoStep StepOf(Transformer model, IAdapter? attached) =>
            new(attached is null ? TrainableSet.Select(model.Weights, nameFilter: null) : TrainableSet.Of(attached.Parameters), eps, weightDecay);
        var referenceStep = StepOf(onReference, referenceAdapter);
        var candidateStep = StepOf(onCandidate, candidateAdapter);

        (LossPair Losses, double G) Evaluate(Transformer model, Engine.Mezo.MezoStep step)
        {
            using var plusWs = model.CreateWorkspace(batch.BatchSize, batch.Length);
            using var minusWs = model.CreateLockstepWorkspace(batch.BatchSize, batch.Length);
            var plus = new float[rows.Length];
            var minus = new float[rows.Length];
            return step.Evaluate(seed, p =>
            {
                model.ScoreTokensLockstep(plusWs, minusWs, batch, rows, targets, p, plus, minus);
                return new LossPair(-plus.Average(v => (double)v), -minus.Average(v => (double)v));
            });
        }
        var (referenceLosses, g) = Evaluate(onReference, referenceStep);
        var (candidateLosses, candidateG) = Evaluate(onCandidate, candidateStep);

        float maxLogit;
        using (var ws = onReference.CreateWorkspace(batch.BatchSize, batch.Length))
        {
            var logits = new float[rows.Length * spec.VocabSize];
            onReference.LogitsAt(ws, batch, rows, logits);
            maxLogit = logits.Max(Math.Abs);
        }
        double lossTolerance = 2 * LogitTolerance(candidate, compute) * (1 + maxLogit);
        string name = $"{Path.GetFileName(Path.GetFullPath(modelDirectory))}: one MeZO step" +
                      (compute == DType.F32 ? "" : $" in {compute} compute") +
                      (adapter == AdapterUnderTest.None ? "" : $" of {ParityAdapters.Describe(adapter)}");
        string detail = $"L+ {referenceLosses.Plus:G6}/{candidateLosses.Plus:G6}, L− {referenceLosses.Minus:G6}/{candidateLosses.Minus:G6}, " +
                        $"g {g:G4}/{candidateG:G4} (CPU/candidate)";
        double lossError = Math.Max(Math.Abs(referenceLosses.Plus - candidateLosses.Plus), Math.Abs(referenceLosses.Minus - candidateLosses.Minus));
        if (!(lossError <= lossTolerance))
            return new ParityResult("MezoStep", name + ", losses", false, lossError, lossTolerance, detail);

        referenceStep.Update(seed, learningRate, g);
        candidateStep.Update(seed, learningRate, g);

        double zError = BackendParity.NoiseTolerance((candidate as CudaBackend)?.Options.Noise ?? NoiseArithmetic.Exact);
        var parameters = referenceAdapter?.Parameters ?? onReference.Weights.Parameters;
        var expected = parameters.SelectMany(p => HostValues.Read(p.Tensor)).ToArray();
        var actual = (candidateAdapter?.Parameters ?? onCandidate.Weights.Parameters).SelectMany(p => HostValues.Read(p.Tensor)).ToArray();
        var types = parameters.SelectMany(p => Enumerable.Repeat(p.Tensor.DType, (int)p.Tensor.ElementCount)).ToArray();
        // As the MezoUpdate case: with exact z the same operations give the same bits; with fast z the update moves by
        // its step times z's error, and a 16-bit element may round to the other neighbour.
        var result = BackendParity.Compare("MezoStep", name + ", weights", expected, actual,
            i => zError == 0 ? 0 : learningRate * Math.Abs(g) * zError + 2 * BackendParity.Ulp(types[i], expected[i]));
        return result with { Detail = (result.Detail.Length > 0 ? result.Detail + "; " : "") + detail };
    }

    /// <summary>
    /// The logits' tolerance relative to their largest magnitude: per-op differences compound through the layers'
    /// residual stream, about L·2^-22 in float32 and L·2^-8 with bf16 matrix inputs; these leave room for both. With
    /// 16-bit activations on both sides the rounding points are the same, but a float32 difference inside an op can
    /// flip an output's rounding to its other neighbour (one 16-bit ulp, 2^-8 relative in bf16, 2^-11 in f16), which
    /// then compounds as the bf16 matrix inputs do.
    /// </summary>
    private static double LogitTolerance(IBackend candidate, DType compute) => compute switch
    {
        DType.BF16 => 5e-2,
        DType.F16 => 1e-2,
        _ => candidate is not CudaBackend cuda || cuda.Options.Precision == MatmulPrecision.Float32 ? 1e-4 : 5e-2,
    };
}
