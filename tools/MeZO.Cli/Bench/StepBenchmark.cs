using System.Diagnostics;
using MeZO.Engine.Mezo;
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
/// Times the work of MeZO training on a loaded model with a random full-length batch, through the same
/// <see cref="MezoStep"/> and lockstep forward the trainer uses, so the time is the engine's. Rounds interleave two
/// forward passes, one step and one update pass, and each figure is a median over rounds: a machine that is busy
/// for a while slows both sides of a round alike. Used by `mezo bench step`, `mezo verify --bench` and
/// tools/gpu-check.sh; never by tests (tests do not time).
/// </summary>
internal static class StepBenchmark
{
    public static StepBenchmarkResult Run(Transformer model, int batch, int length, int rounds, ulong seed = 1)
    {
        var backend = model.Backend;
        var spec = model.Spec;
        var random = new Random(batch * 7919 + length);
        var sequences = new IReadOnlyList<int>[batch];
        for (int b = 0; b < batch; b++)
        {
            var ids = new int[length];
            for (int t = 0; t < length; t++) ids[t] = random.Next(0, spec.VocabSize);
            sequences[b] = ids;
        }
        var tokens = TokenBatch.Pack(sequences, PaddingSide.Right);
        var rows = Enumerable.Range(0, batch).SelectMany(b => Enumerable.Range(0, length - 1).Select(t => tokens.Row(b, t))).ToArray();
        var targets = Enumerable.Range(0, batch).SelectMany(b => Enumerable.Range(1, length - 1).Select(t => tokens.Ids[b * length + t])).ToArray();
        var logProbs = new float[rows.Length];
        var minusLogProbs = new float[rows.Length];
        using var ws = model.CreateWorkspace(batch, length);

        double Loss()
        {
            model.ScoreTokens(ws, tokens, rows, targets, logProbs); // downloads, so the pass has finished
            return -logProbs.Average();
        }

        // lr 0 keeps the weights as they are while every pass runs in full.
        var step = new MezoStep(TrainableSet.Select(model.Weights, nameFilter: null), eps: 1e-3, weightDecay: 0);
        Loss(); // warm-up: kernels compiled or loaded, workspaces sized
        long inferencePeak = backend.Memory.PeakTotal;
        using var minusWs = model.CreateLockstepWorkspace(batch, length);
        LossPair Losses(WeightPerturbation plus)
        {
            model.ScoreTokensLockstep(ws, minusWs, tokens, rows, targets, plus, logProbs, minusLogProbs);
            return new LossPair(-logProbs.Average(), -minusLogProbs.Average());
        }
        void Step()
        {
            var (_, g) = step.Evaluate(seed, Losses);
            step.Update(seed, learningRate: 0, g);
            backend.Synchronize();
            seed++;
        }
        Step(); // warm-up of the perturbed paths

        var forwards = new double[rounds];
        var steps = new double[rounds];
        var ratios = new double[rounds];
        var updates = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            forwards[r] = Timed(() => { Loss(); Loss(); }) / 2;
            steps[r] = Timed(Step);
            ratios[r] = steps[r] / (2 * forwards[r]);
            updates[r] = Timed(() =>
            {
                step.Update(seed, learningRate: 0, projectedGradient: 0);
                backend.Synchronize();
            });
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
