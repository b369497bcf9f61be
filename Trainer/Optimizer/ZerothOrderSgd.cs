using MeZO.Engine.Mezo;
using MeZO.Engine.Noise;

namespace MeZO.Trainer.Optimizer;

/// <summary>One sample of one step, as the trajectory records it (DESIGN §4).</summary>
public sealed record StepRecord(long Step, int Sample, ulong Seed, double ProjectedGradient, double LearningRate, double Eps,
    double LossPlus, double LossMinus);

/// <summary>
/// ZO-SGD as MeZO's Algorithm 1 and DESIGN §3 define it, over n samples per step, each with its own seed from the
/// run seed (<see cref="StepSeeds"/>) and one <see cref="MezoStep"/>: L+ and L− from forward passes that add ±εz
/// as they read the weights, g = (L+ − L−)/2ε, then θ ← round(θ(1 − ηλ) − ηgz). The optimizer owns no buffer at all:
/// no gradient, no state, no copy of the weights, and z is regenerated from the seed wherever it is needed.
/// </summary>
public sealed class ZerothOrderSgd(TrainableSet trainable, double eps, double weightDecay, ulong runSeed, int samples)
{
    private readonly MezoStep _step = new(trainable, eps, weightDecay);

    /// <summary>
    /// Runs one step. <paramref name="losses"/> evaluates this step's batch under a +ε perturbation and its −ε twin
    /// (<see cref="MezoStep.Minus"/>); <paramref name="record"/> is called with each sample's record before that
    /// sample's update is applied (so a trajectory written there is never behind the weights).
    /// <paramref name="learningRate"/> is the step's η before division by the number of samples. A resumed step starts
    /// at <paramref name="firstSample"/>. Returns the records.
    /// </summary>
    public IReadOnlyList<StepRecord> Step(long step, double learningRate, Func<WeightPerturbation, LossPair> losses,
        Action<StepRecord> record, int firstSample = 0)
    {
        var records = new List<StepRecord>(samples);
        double eta = learningRate / samples;
        for (int q = firstSample; q < samples; q++)
        {
            ulong seed = StepSeeds.For(runSeed, step, (uint)q);
            var (pair, g) = _step.Evaluate(seed, losses);
            // The weights are untouched until the update, so a bad loss leaves the last good ones as they are.
            if (!double.IsFinite(g)) throw new NonFiniteLossException(step, pair.Plus, pair.Minus);
            var r = new StepRecord(step, q, seed, g, eta, eps, pair.Plus, pair.Minus);
            record(r);
            try
            {
                _step.Update(seed, eta, g);
            }
            catch (OverflowException e)
            {
                throw new WeightOverflowException(step, e);
            }
            records.Add(r);
        }
        return records;
    }

    /// <summary>
    /// Applies a recorded sample exactly as the step did: the same update pass, so the result is bit-identical. The
    /// trajectory holds a sample before its update is tried, so the update that stopped a run is replayed too, and
    /// stops a resume or a replay the same way.
    /// </summary>
    public void Replay(StepRecord r)
    {
        try
        {
            _step.Update(r.Seed, r.LearningRate, r.ProjectedGradient);
        }
        catch (OverflowException e)
        {
            throw new WeightOverflowException(r.Step, e);
        }
    }
}
