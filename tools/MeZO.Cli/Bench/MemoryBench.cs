using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Training;

namespace MeZO.Cli.Bench;

/// <summary>
/// `mezo bench memory`: peak memory of MeZO training against evaluation at the same batch and lengths, measured in
/// one process side by side (the backend's own accounting of every buffer it holds), plus the managed bytes a training
/// step allocates, and the backprop+AdamW estimate of `mezo inspect` for comparison.
/// </summary>
internal static class MemoryBench
{
    /// <param name="peft">the adapter MeZO trains (the base frozen), or null for all parameters; evaluation is the base's alone either way</param>
    public static void Run(string model, string task, string data, int batch, int steps, PeftKind? peft, TextWriter output)
    {
        long evalPeak, evalWeights, trainPeak, allocatedPerStep, adapterBytes = 0, trained;
        ArchitectureSpec spec;
        IReadOnlyList<(long, DType)> parameters;
        int longest;

        using (var session = Open(model, task, data, batch))
        {
            session.Evaluator.Evaluate(session.Test, batch);
            evalPeak = session.Backend.Memory.PeakTotal;
            evalWeights = session.Backend.Memory.Current(MemoryCategory.Weights);
        }
        using (var session = Open(model, task, data, batch, peft))
        {
            spec = session.Model.Spec;
            parameters = session.Model.Weights.Parameters.Select(p => (p.Tensor.ElementCount, p.Tensor.DType)).ToArray();
            longest = session.Scorer.MaxLength;
            var trainable = session.SelectTrainable(null);
            trained = trainable.ElementCount;
            adapterBytes = session.Adapter?.Bytes ?? 0;
            var optimizer = new ZerothOrderSgd(trainable, eps: 1e-3, weightDecay: 0, runSeed: 1, samples: 1);
            var objective = new BatchObjective(session.Task.Kind, Objective.Loss, session.Scorer, session.Evaluator);
            var examples = session.Test.Take(batch).ToArray();
            optimizer.Step(0, 1e-6, plus => objective.Of(examples, plus), _ => { }); // warm-up
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int s = 1; s <= steps; s++) optimizer.Step(s, 1e-6, plus => objective.Of(examples, plus), _ => { });
            allocatedPerStep = (GC.GetAllocatedBytesForCurrentThread() - before) / steps;
            trainPeak = session.Backend.Memory.PeakTotal;
        }
        var estimate = MemoryEstimate.For(spec, parameters, batch, longest);
        output.WriteLine($"{spec.ModelType}, {Units.Count(parameters.Sum(p => p.Item1))} parameters, batch {batch}, sequences up to {longest} tokens:");
        output.WriteLine($"  weights                       {Units.Bytes(evalWeights),12}");
        string mode = peft switch { PeftKind.Lora => "LoRA", PeftKind.Prefix => "prefix", _ => "" };
        if (peft is not null)
            output.WriteLine($"  {mode + " adapter",-30}{Units.Bytes(adapterBytes),12}   " +
                             $"{Units.Count(trained)} trainable parameters, {adapterBytes / (double)evalWeights:P3} of the weights");
        output.WriteLine($"  evaluation peak (measured)    {Units.Bytes(evalPeak),12}");
        output.WriteLine($"  {(peft is null ? "MeZO training peak (measured)" : $"MeZO-{mode} training peak"),-30}{Units.Bytes(trainPeak),12}   {trainPeak / (double)evalPeak:F3}× evaluation");
        output.WriteLine($"  managed bytes per MeZO step   {Units.Bytes(allocatedPerStep),12}   ({allocatedPerStep / (double)evalWeights:P3} of the weights)");
        output.WriteLine($"  backprop + AdamW (estimate)   {Units.Bytes(estimate.BackpropTotal),12}   {estimate.BackpropTotal / (double)trainPeak:F1}× MeZO");
    }

    private static TrainingSession Open(string model, string task, string data, int batch, PeftKind? peft = null) =>
        TrainingSession.Open(new SessionOptions { Model = model, Task = task, Data = data, TestExamples = 4 * batch, Seed = 7, MicroBatchSize = batch, Peft = peft });
}
