using MeZO.Engine;
using MeZO.Engine.Adapters;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Gradients;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Training;

namespace MeZO.Cli.Bench;

/// <summary>
/// `mezo bench memory`: the peak memory of each way to train, measured side by side on one checkpoint and one batch
/// (B sequences of T random tokens, every token after the first scored: the language-modelling loss). Each method runs
/// a few steps with the engine's own objects (the workspaces a MeZO step uses, ModelGradient, FirstOrderOptimizer) on a
/// fresh backend, so its peak bytes by category are its own; the process's peak RSS is reset between methods. Each
/// row also shows <see cref="MemoryEstimate"/>, the formula `mezo inspect` prints, against the measurement.
/// </summary>
internal static class MemoryBench
{
    private enum Row { Evaluation, Mezo, MezoLora, MezoPrefix, Sgd, AdamW, AdamWCheckpointed, AdamWLora, AdamWPrefix }

    public static void Run(string model, string backendName, DType? storage, int batch, int length, int steps, PeftKind? peft, bool json,
        TextWriter output)
    {
        Row[] rows = [Row.Evaluation, Row.Mezo, .. peft switch { PeftKind.Lora => [Row.MezoLora], PeftKind.Prefix => [Row.MezoPrefix], _ => Array.Empty<Row>() },
            Row.Sgd, Row.AdamW, Row.AdamWCheckpointed, .. peft switch { PeftKind.Lora => [Row.AdamWLora], PeftKind.Prefix => [Row.AdamWPrefix], _ => Array.Empty<Row>() }];
        var results = new List<Measured>();
        foreach (var row in rows)
        {
            if (!json) output.WriteLine($"measuring {Label(row)} ...");
            results.Add(Measure(row, model, backendName, storage, batch, length, steps));
        }
        if (json) WriteJson(model, batch, length, results);
        else WriteTable(model, batch, length, results, output);
    }

    private sealed record Measured(Row Row, string ModelType, long Parameters, long Trained, DType Compute, long[] PeakByCategory,
        long PeakTotal, long? PeakResident, MemoryEstimate? Estimate, long ManagedBytesPerStep)
    {
        public long Peak(params MemoryCategory[] categories) => categories.Sum(c => PeakByCategory[(int)c]);
    }

    private static Measured Measure(Row row, string directory, string backendName, DType? storage, int batchSize, int length, int steps)
    {
        GC.Collect();
        ProcessMemory.ResetPeakResident();
        using var backend = BackendFactory.Create(backendName);
        // Backprop's rows compute in its float32 even where the backend's default for the weights is 16-bit (CUDA's).
        bool backprop = row is not (Row.Evaluation or Row.Mezo or Row.MezoLora or Row.MezoPrefix);
        using var model = Transformer.Load(directory, backend, storage, compute: backprop ? ModelGradient.ActivationDType : null);
        var spec = model.Spec;
        var random = new Random(7);
        var sequences = Enumerable.Range(0, batchSize)
            .Select(_ => (IReadOnlyList<int>)Enumerable.Range(0, length).Select(_ => random.Next(spec.VocabSize)).ToArray()).ToArray();
        var batch = TokenBatch.Pack(sequences, PaddingSide.Right);
        var pairs = Enumerable.Range(0, batchSize).SelectMany(b => Enumerable.Range(0, length - 1).Select(t => batch.Row(b, t))).ToArray();
        var targets = pairs.Select(r => batch.Ids[r + 1]).ToArray();
        var parameters = model.Weights.Parameters.Select(p => (p.Tensor.ElementCount, p.Tensor.DType)).ToArray();

        using var adapter = row switch
        {
            Row.MezoLora or Row.AdamWLora => (IAdapter)LoraAdapter.Create(model, new LoraConfig(8, 16, LoraConfig.PaperTargets)),
            Row.MezoPrefix or Row.AdamWPrefix => PrefixAdapter.Create(spec, backend, tokens: 5),
            _ => null,
        };
        if (adapter is LoraAdapter lora) model.Lora = lora;
        if (adapter is PrefixAdapter prefix) model.Prefix = prefix;
        var trainable = adapter is null ? TrainableSet.Select(model.Weights, null) : TrainableSet.Of(adapter.Parameters);
        // Every run holds the workspace it evaluates in (CandidateScorer's): training's buffers come on top of it.
        using var evaluation = model.CreateWorkspace(batchSize, length);
        var logProbs = new float[pairs.Length];
        long allocated = 0;
        MemoryEstimate? estimate = null;
        switch (row)
        {
            case Row.Evaluation:
                model.ScoreTokens(evaluation, batch, pairs, targets, logProbs);
                break;
            case Row.Mezo or Row.MezoLora or Row.MezoPrefix:
            {
                using var minus = model.CreateLockstepWorkspace(batchSize, length);
                var minusLogProbs = new float[pairs.Length];
                var step = new MezoStep(trainable, eps: 1e-3, weightDecay: 0);
                LossPair Losses(WeightPerturbation plus)
                {
                    model.ScoreTokensLockstep(evaluation, minus, batch, pairs, targets, plus, logProbs, minusLogProbs);
                    return new LossPair(-logProbs.Average(), -minusLogProbs.Average());
                }
                for (int s = 0; s <= steps; s++)
                {
                    // Step 0 warms up; the managed bytes are those of the steps after it.
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    var (_, g) = step.Evaluate((ulong)s + 1, Losses);
                    step.Update((ulong)s + 1, 1e-6, g);
                    if (s > 0) allocated += GC.GetAllocatedBytesForCurrentThread() - before;
                }
                allocated /= steps;
                if (row == Row.Mezo) estimate = MemoryEstimate.For(TrainingMethod.Mezo, spec, parameters, batchSize, length, compute: model.Compute);
                break;
            }
            default:
            {
                bool recompute = row == Row.AdamWCheckpointed;
                var kind = row == Row.Sgd ? OptimizerKind.Sgd : OptimizerKind.AdamW;
                // With an adapter attached, the gradient is the adapter's (the base frozen), as in a PEFT run.
                using var gradient = new ModelGradient(model, batchSize, length, recompute, workspace: evaluation);
                using var optimizer = new FirstOrderOptimizer(trainable, backend, kind, weightDecay: 0, 0.9, 0.999, 1e-8, maxGradNorm: 1);
                var weights = Enumerable.Repeat(-1f / pairs.Length, pairs.Length).ToArray();
                for (int s = 0; s < steps; s++)
                {
                    gradient.ZeroGradients();
                    gradient.Forward(batch, pairs, targets);
                    gradient.Backward(weights);
                    optimizer.Step(gradient, s, 1e-6, loss: 0);
                }
                if (adapter is null) estimate = MemoryEstimate.For(FirstOrderOptimizer.Method(kind), spec, parameters, batchSize, length, recompute);
                break;
            }
        }
        var memory = backend.Memory;
        return new Measured(row, spec.ModelType, parameters.Sum(p => p.ElementCount), trainable.ElementCount, model.Compute,
            Enum.GetValues<MemoryCategory>().Select(memory.Peak).ToArray(), memory.PeakTotal, ProcessMemory.PeakResidentBytes(), estimate, allocated);
    }

    private static string Label(Row row) => row switch
    {
        Row.Evaluation => "evaluation (one forward)",
        Row.Mezo => "MeZO",
        Row.MezoLora => "MeZO, LoRA r=8 q,v",
        Row.MezoPrefix => "MeZO, prefix 5 tokens",
        Row.Sgd => "backprop, SGD",
        Row.AdamW => "backprop, AdamW",
        Row.AdamWCheckpointed => "backprop, AdamW, checkpointed",
        Row.AdamWLora => "backprop, AdamW, LoRA r=8 q,v",
        Row.AdamWPrefix => "backprop, AdamW, prefix 5 tokens",
        _ => throw new ArgumentOutOfRangeException(nameof(row)),
    };

    private static void WriteTable(string model, int batch, int length, List<Measured> results, TextWriter output)
    {
        var first = results[0];
        long evaluation = first.PeakTotal;
        output.WriteLine($"{first.ModelType}, {Units.Count(first.Parameters)} parameters, batch {batch} × {length} tokens, every token after the first scored:");
        output.WriteLine($"  {"method",-34}{"compute",8}{"weights",11}{"gradients",11}{"optimizer",11}{"activations",13}{"engine peak",13}{"× eval",8}" +
                         $"{"RSS peak",11}{"estimate",11}{"est./meas.",11}");
        foreach (var r in results)
        {
            string rss = r.PeakResident is { } b ? Units.Bytes(b) : "n/a";
            string estimated = r.Estimate is { } e ? Units.Bytes(e.Total) : "";
            string ratio = r.Estimate is { } e2 ? $"{e2.Total / (double)r.PeakTotal:F3}" : "";
            output.WriteLine($"  {Label(r.Row),-34}{r.Compute.ToString().ToLowerInvariant(),8}{Units.Bytes(r.Peak(MemoryCategory.Weights, MemoryCategory.Adapter)),11}" +
                             $"{Units.Bytes(r.Peak(MemoryCategory.Gradients)),11}{Units.Bytes(r.Peak(MemoryCategory.OptimizerState)),11}" +
                             $"{Units.Bytes(r.Peak(MemoryCategory.Activations, MemoryCategory.Workspace)),13}{Units.Bytes(r.PeakTotal),13}" +
                             $"{r.PeakTotal / (double)evaluation,8:F2}{rss,11}{estimated,11}{ratio,11}");
        }
        var mezo = results.Single(r => r.Row == Row.Mezo);
        output.WriteLine($"managed bytes per MeZO step: {Units.Bytes(mezo.ManagedBytesPerStep)}; the categories' peaks are each their own, the engine peak is the sum's");
    }

    private static void WriteJson(string model, int batch, int length, List<Measured> results) => JsonOutput.Write(json =>
    {
        json.WriteStartObject();
        json.WriteString("model", Path.GetFullPath(model));
        json.WriteString("model_type", results[0].ModelType);
        json.WriteNumber("parameters", results[0].Parameters);
        json.WriteNumber("batch", batch);
        json.WriteNumber("length", length);
        json.WriteStartArray("methods");
        foreach (var r in results)
        {
            json.WriteStartObject();
            json.WriteString("method", Label(r.Row));
            json.WriteNumber("trained_parameters", r.Trained);
            json.WriteString("compute", r.Compute.ToString().ToLowerInvariant());
            json.WriteNumber("weights", r.Peak(MemoryCategory.Weights, MemoryCategory.Adapter));
            json.WriteNumber("gradients", r.Peak(MemoryCategory.Gradients));
            json.WriteNumber("optimizer_state", r.Peak(MemoryCategory.OptimizerState));
            json.WriteNumber("activations", r.Peak(MemoryCategory.Activations, MemoryCategory.Workspace));
            json.WriteNumber("engine_peak", r.PeakTotal);
            if (r.PeakResident is { } rss) json.WriteNumber("rss_peak", rss);
            else json.WriteNull("rss_peak");
            if (r.Estimate is { } e) json.WriteNumber("estimate", e.Total);
            else json.WriteNull("estimate");
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }, indented: true);
}
