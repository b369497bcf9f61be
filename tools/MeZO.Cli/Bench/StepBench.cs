using MeZO.Engine.Backends;
using MeZO.Engine.Cuda.Verification;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Cli.Bench;

/// <summary>
/// `mezo bench step`: a full MeZO step (+εz, forward, −2εz, forward, fused update) against two forward passes of the
/// same batch, measured side by side in one process — what the perturbation passes add to the forward passes that
/// any ZO method must run. The same measurement `mezo verify --bench` makes on a GPU.
/// </summary>
internal static class StepBench
{
    public static void Run(string modelDirectory, string backendName, DType? storage, int batch, int length, int steps, TextWriter output)
    {
        using var backend = BackendFactory.Create(backendName);
        using var model = Transformer.Load(modelDirectory, backend, storage);
        Write(StepBenchmark.Run(model, batch, length, steps), backend.Name, output);
    }

    /// <summary>The result as `mezo bench step` and `mezo verify --bench` print it; the targets are issue 4's.</summary>
    public static void Write(StepBenchmarkResult r, string backendDescription, TextWriter output)
    {
        double nsPerElement = r.PerturbSeconds * 1e9 / r.Parameters;
        output.WriteLine($"{backendDescription}: {r.Model}, {Units.Count(r.Parameters)} parameters ({Units.Bytes(r.WeightBytes)}), " +
                         $"batch {r.Batch} × {r.Length}, median of {r.Steps}");
        output.WriteLine($"  forward pass      {r.ForwardSeconds * 1e3,9:F1} ms   {r.TokensPerSecond,8:F0} tokens/s");
        output.WriteLine($"  MeZO step         {r.StepSeconds * 1e3,9:F1} ms   {r.StepOverTwoForwards:F3}× two forward passes (target ≤ 1.15)");
        output.WriteLine($"  perturbation pass {r.PerturbSeconds * 1e3,9:F1} ms   {nsPerElement:F2} ns per weight " +
                         $"(a step makes three: {3 * r.PerturbSeconds / r.StepSeconds:P1} of it)");
        output.WriteLine($"  memory            {Units.Bytes(r.TrainingPeakBytes)} training peak, {Units.Bytes(r.InferencePeakBytes)} inference peak " +
                         $"({r.TrainingOverInferenceMemory:F3}×, target ≤ 1.05)");
    }
}
