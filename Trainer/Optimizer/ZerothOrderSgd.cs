using MeZO.Engine.Distributed;
using MeZO.Engine.Mezo;
using MeZO.Engine.Noise;

namespace MeZO.Trainer.Optimizer;

/// <summary>One sample of one step, as the trajectory records it (DESIGN §4).</summary>
public sealed record StepRecord(long Step, int Sample, ulong Seed, double ProjectedGradient, double LearningRate, double Eps,
    double LossPlus, double LossMinus);

/// <summary>
/// ZO-SGD as MeZO's Algorithm 1 and DESIGN §3 define it, with n-SPSA over n samples per step (the paper's Definition 1):
/// each sample has its own seed from the run seed (<see cref="StepSeeds"/>), and all n are evaluated at the step's θ,
/// through <see cref="MezoStep"/>: L+ and L− from forward passes that add ±εz as they read the weights,
/// g = (L+ − L−)/2ε. Then each sample's update θ ← round(θ(1 − ηλ) − ηgz) is applied in sample order. The optimizer
/// owns no buffer at all: no gradient, no state, no copy of the weights, and z is regenerated wherever it is needed.
/// </summary>
/// <remarks>
/// Evaluating every sample at the same θ is what the paper's estimate averages, and what lets the samples of a step run
/// on different processes (<see cref="Step"/>'s <c>samplesOver</c>) with the very same result. Until 2026-12 sample q
/// was evaluated after sample q − 1's update, which made n samples n small steps.
/// </remarks>
public sealed class ZerothOrderSgd(TrainableSet trainable, double eps, double weightDecay, ulong runSeed, int samples)
{
    private readonly MezoStep _step = new(trainable, eps, weightDecay);

    /// <summary>
    /// Runs one step. <paramref name="losses"/> evaluates this step's batch under a +ε perturbation and its −ε twin
    /// (<see cref="MezoStep.Minus"/>); <paramref name="record"/> is called with every sample's record before any update
    /// is applied, so a trajectory written there is never behind the weights, and a step whose records are not all on
    /// disk left the weights untouched. <paramref name="learningRate"/> is the step's η before division by the number
    /// of samples. With <paramref name="samplesOver"/>, rank r evaluates samples r, r + size, … and the ranks exchange
    /// their (L+, L−): every rank then holds every sample's g and applies the same updates. Returns the records.
    /// </summary>
    public IReadOnlyList<StepRecord> Step(long step, double learningRate, Func<WeightPerturbation, LossPair> losses,
        Action<StepRecord> record, ICommunicator? samplesOver = null)
    {
        var pairs = Evaluate(step, losses, samplesOver ?? SingleProcess.Instance);
        double eta = learningRate / samples;
        var records = new StepRecord[samples];
        for (int q = 0; q < samples; q++)
        {
            var pair = pairs[q];
            double g = _step.ProjectedGradient(pair);
            // The weights are untouched until the updates, so a bad loss leaves the last good ones as they are.
            if (!double.IsFinite(g)) throw new NonFiniteLossException(step, pair.Plus, pair.Minus);
            records[q] = new StepRecord(step, q, SeedOf(step, q), g, eta, eps, pair.Plus, pair.Minus);
        }
        foreach (var r in records) record(r);
        foreach (var r in records) Replay(r);
        return records;
    }

    private ulong SeedOf(long step, int sample) => StepSeeds.For(runSeed, step, (uint)sample);

    /// <summary>Each sample's (L+, L−) at θ: all here, or this rank's share and the others' gathered.</summary>
    private LossPair[] Evaluate(long step, Func<WeightPerturbation, LossPair> losses, ICommunicator ranks)
    {
        var pairs = new LossPair[samples];
        var mine = new List<double>();
        for (int q = ranks.Rank; q < samples; q += ranks.Size)
        {
            pairs[q] = _step.Evaluate(SeedOf(step, q), losses).Losses;
            mine.Add(pairs[q].Plus);
            mine.Add(pairs[q].Minus);
        }
        if (ranks.Size == 1) return pairs;
        var all = ranks.AllGather(mine.ToArray());
        for (int r = 0; r < ranks.Size; r++)
            for (int q = r, k = 0; q < samples; q += ranks.Size, k += 2)
                pairs[q] = new LossPair(all[r][k], all[r][k + 1]);
        return pairs;
    }

    /// <summary>
    /// Applies a recorded sample exactly as the step did: the same update pass, so the result is bit-identical. The
    /// trajectory holds a sample before its update is tried, so the update that stopped a run is replayed too, and
    /// stops a resume or a replay the same way. An update past a 16-bit dtype's range is a
    /// <see cref="WeightOverflowException"/> naming the record's step wherever it surfaces: here, or, for a streamed
    /// model's layers, whose updates land just before their next copy, in the next forward pass or before the weights
    /// are saved.
    /// </summary>
    public void Replay(StepRecord r) =>
        _step.Update(r.Seed, r.LearningRate, r.ProjectedGradient, overflow => new WeightOverflowException(r.Step, overflow));
}
