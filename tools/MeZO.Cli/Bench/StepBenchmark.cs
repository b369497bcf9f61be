using System.Diagnostics;
using MeZO.Engine.Models;

namespace MeZO.Cli.Bench;

/// <summary>Throughput and memory of a model's forward pass and of a full MeZO step on one backend.</summary>
/// <param name="ForwardSeconds">One scoring forward pass over the batch (median over rounds).</param>
/// <param name="StepSeconds">One MeZO step: L+ and L− in one lockstep sweep, then the update (median over rounds).</param>
/// <param name="StepOverTwoForwards">The median over rounds of a round's step time over its two forward passes.</param>
/// <param name="UpdateSeconds">One update pass over every parameter (median over rounds).</param>
/// <param name="InferencePeakBytes">The backend's peak bytes after forward passes only.</param>
/// <param name="TrainingPeakBytes">The backend's peak bytes after the MeZO steps as well.</param>
internal sealed record StepBenchmarkResult(string Model, long Parameters, long WeightBytes, int Batch, int Length, int Steps,
    double ForwardSeconds, double StepSeconds, double StepOverTwoForwards, double UpdateSeconds, long InferencePeakBytes,
    long TrainingPeakBytes)
{
    public double TokensPerSecond => Batch * (double)Length / ForwardSeconds;

    /// <summary>Training memory over inference memory at the same batch.</summary>
    public double TrainingOverInferenceMemory => TrainingPeakBytes / (double)InferencePeakBytes;
}

/// <summary>
/// Times the work of MeZO training on a loaded model (<see cref="StepWorkload"/>), so the time is the engine's. Rounds interleave two
/// forward passes, one step and one update pass, and each figure is a median over rounds: a machine that is busy
/// for a while slows both sides of a round alike. Used by `mezo bench step`, `mezo verify --bench` and
/// tools/gpu-check.sh; never by tests (tests do not time).
/// </summary>
internal static class StepBenchmark
{
    public static StepBenchmarkResult Run(Transformer model, int batch, int length, int rounds, ulong seed = 1)
    {
        var backend = model.Backend;
        using var work = new StepWorkload(model, batch, length, seed);
        work.Loss(); // warm-up: kernels compiled or loaded, workspaces sized
        long inferencePeak = backend.Memory.PeakTotal;
        work.Step(); // warm-up of the perturbed paths

        var forwards = new double[rounds];
        var steps = new double[rounds];
        var ratios = new double[rounds];
        var updates = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            forwards[r] = Timed(() => { work.Loss(); work.Loss(); }) / 2;
            steps[r] = Timed(work.Step);
            ratios[r] = steps[r] / (2 * forwards[r]);
            updates[r] = Timed(work.Update);
        }
        return new StepBenchmarkResult(Path.GetFileName(model.Directory), model.Weights.ParameterCount, model.Weights.Bytes, batch, length,
            rounds, Median(forwards), Median(steps), Median(ratios), Median(updates), inferencePeak, backend.Memory.PeakTotal);
    }

    private static double Timed(Action work)
    {
        long start = Stopwatch.GetTimestamp();
        work();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }
}
