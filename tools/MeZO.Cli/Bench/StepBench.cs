using MeZO.Engine;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Cli.Bench;

/// <summary>
/// `mezo bench step`: a full MeZO step (L+ and L− in one lockstep sweep that adds ±εz as it reads each weight, then
/// the update pass) against two forward passes of the same batch, interleaved round by round in one process — what
/// MeZO adds to the forward passes that any ZO method must run. The same measurement `mezo verify --bench` makes on a GPU.
/// </summary>
internal static class StepBench
{
    public static void Run(string modelDirectory, string backendName, DType? storage, DType? compute, int batch, int length, int steps,
        TextWriter output)
    {
        using var backend = BackendFactory.Create(backendName);
        using var model = Transformer.Load(modelDirectory, backend, storage, compute: compute);
        Write(StepBenchmark.Run(model, batch, length, steps), $"{backend.Name}, {model.Compute.ToString().ToLowerInvariant()} activations", output);
    }

    /// <summary>The result as `mezo bench step` and `mezo verify --bench` print it; the targets are issue 4's.</summary>
    public static void Write(StepBenchmarkResult r, string backendDescription, TextWriter output)
    {
        double nsPerElement = r.UpdateSeconds * 1e9 / r.Parameters;
        output.WriteLine($"{backendDescription}: {r.Model}, {Units.Count(r.Parameters)} parameters ({Units.Bytes(r.WeightBytes)}), " +
                         $"batch {r.Batch} × {r.Length}, median of {r.Steps}");
        output.WriteLine($"  forward pass      {r.ForwardSeconds * 1e3,9:F1} ms   {r.TokensPerSecond,8:F0} tokens/s");
        output.WriteLine($"  MeZO step         {r.StepSeconds * 1e3,9:F1} ms   {r.StepOverTwoForwards:F3}× two forward passes, median of rounds (target ≤ 1.15)");
        output.WriteLine($"  update pass       {r.UpdateSeconds * 1e3,9:F1} ms   {nsPerElement:F2} ns per weight ({r.UpdateSeconds / r.StepSeconds:P1} of a step)");
        output.WriteLine($"  memory            {Units.Bytes(r.TrainingPeakBytes)} training peak, {Units.Bytes(r.InferencePeakBytes)} inference peak " +
                         $"({r.TrainingOverInferenceMemory:F3}×: the lockstep sweep keeps a second stream's activations)");
    }
}
