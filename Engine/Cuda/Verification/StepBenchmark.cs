using System.Diagnostics;
using MeZO.Engine.Backends;
using MeZO.Engine.Models;

namespace MeZO.Engine.Cuda.Verification;

/// <summary>Throughput and memory of a model's forward pass and of a full MeZO step on one backend.</summary>
/// <param name="ForwardSeconds">One scoring forward pass over the batch (median).</param>
/// <param name="StepSeconds">One MeZO step: +εz, forward, −2εz, forward, fused update (median).</param>
/// <param name="PerturbSeconds">One perturbation pass over every parameter (median).</param>
/// <param name="InferencePeakBytes">The backend's peak bytes after forward passes only.</param>
/// <param name="TrainingPeakBytes">The backend's peak bytes after the MeZO steps as well.</param>
public sealed record StepBenchmarkResult(string Model, long Parameters, long WeightBytes, int Batch, int Length, int Steps,
    double ForwardSeconds, double StepSeconds, double PerturbSeconds, long InferencePeakBytes, long TrainingPeakBytes)
{
    public double TokensPerSecond => Batch * (double)Length / ForwardSeconds;

    /// <summary>The target: a step costs at most 1.15× two forward passes.</summary>
    public double StepOverTwoForwards => StepSeconds / (2 * ForwardSeconds);

    /// <summary>The target: training needs at most 1.05× the memory of inference at the same batch.</summary>
    public double TrainingOverInferenceMemory => TrainingPeakBytes / (double)InferencePeakBytes;
}

/// <summary>
/// Times the work of MeZO training on a loaded model with a random full-length batch: the same ops, in the same
/// order, as ZerothOrderSgd (every parameter perturbed in name order with its z offset), so the time is the engine's.
/// Used by `mezo verify --bench` and tools/gpu-check.sh; never by tests (tests do not time).
/// </summary>
public static class StepBenchmark
{
    public static StepBenchmarkResult Run(Transformer model, int batch, int length, int steps, ulong seed = 1)
    {
        var backend = model.Backend;
        var spec = model.Spec;
        var random = new ParityRandom(batch * 7919 + length);
        var sequences = Enumerable.Range(0, batch).Select(_ => (IReadOnlyList<int>)random.Ints(length, 0, spec.VocabSize)).ToArray();
        var tokens = TokenBatch.Pack(sequences, PaddingSide.Right);
        var rows = Enumerable.Range(0, batch).SelectMany(b => Enumerable.Range(0, length - 1).Select(t => tokens.Row(b, t))).ToArray();
        var targets = Enumerable.Range(0, batch).SelectMany(b => Enumerable.Range(1, length - 1).Select(t => tokens.Ids[b * length + t])).ToArray();
        var logProbs = new float[rows.Length];
        using var ws = model.CreateWorkspace(batch, length);

        double Loss()
        {
            model.ScoreTokens(ws, tokens, rows, targets, logProbs); // downloads, so the pass has finished
            return -logProbs.Average();
        }

        var parameters = model.Weights.Parameters;
        var firsts = NoiseLayout.FirstIndices(parameters);
        void Perturb(ulong stepSeed, float scale)
        {
            for (int i = 0; i < parameters.Count; i++) backend.Perturb(parameters[i].Tensor, stepSeed, firsts[i], scale);
        }

        const float eps = 1e-3f, lr = 1e-7f, weightDecay = 0f;
        Loss(); // warm-up: kernels compiled or loaded, workspaces sized
        var forwards = Timed(2 * steps, () => Loss());
        long inferencePeak = backend.Memory.PeakTotal;
        var perturbs = Timed(steps, () =>
        {
            Perturb(seed, 0f); // z generated and the weights rewritten, values unchanged
            backend.Synchronize();
        });
        var stepTimes = Timed(steps, () =>
        {
            Perturb(seed, eps);
            double plus = Loss();
            Perturb(seed, -2 * eps);
            double minus = Loss();
            float g = (float)((plus - minus) / (2 * eps));
            for (int i = 0; i < parameters.Count; i++)
                backend.PerturbUpdate(parameters[i].Tensor, seed, firsts[i], eps, lr, parameters[i].IsBiasOrNorm ? 0 : weightDecay, g);
            backend.Synchronize();
            seed++;
        });
        return new StepBenchmarkResult(Path.GetFileName(model.Directory), model.Weights.ParameterCount, model.Weights.Bytes, batch, length,
            steps, Median(forwards), Median(stepTimes), Median(perturbs), inferencePeak, backend.Memory.PeakTotal);
    }

    private static double[] Timed(int repeats, Action work)
    {
        var seconds = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            work();
            seconds[r] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        return seconds;
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }
}
