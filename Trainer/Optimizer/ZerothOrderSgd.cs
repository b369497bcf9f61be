using MeZO.Engine.Noise;

namespace MeZO.Trainer.Optimizer;

/// <summary>One sample of one step, as the trajectory records it (DESIGN §4).</summary>
public sealed record StepRecord(long Step, int Sample, ulong Seed, double ProjectedGradient, double LearningRate, double Eps,
    double LossPlus, double LossMinus);

/// <summary>
/// ZO-SGD as MeZO's Algorithm 1 and DESIGN §3 define it. Per sample: θ += εz, L+, θ −= 2εz, L−,
/// g = (L+ − L−)/2ε, then one fused pass θ = (θ + εz)(1 − ηλ) − ηgz. z is regenerated from the seed in every
/// pass, so the optimizer owns no buffer at all: no gradient, no state, no copy of the weights.
/// </summary>
public sealed class ZerothOrderSgd(TrainableSet trainable, double eps, double weightDecay, ulong runSeed, int samples)
{
    /// <summary>
    /// Runs one step. <paramref name="loss"/> evaluates the batch of this step at the current weights;
    /// <paramref name="record"/> is called with each sample's record before that sample's update is applied (so a
    /// trajectory written there is never behind the weights). <paramref name="learningRate"/> is the step's η before
    /// division by the number of samples. A resumed step starts at <paramref name="firstSample"/>. Returns the records.
    /// </summary>
    public IReadOnlyList<StepRecord> Step(long step, double learningRate, Func<double> loss, Action<StepRecord> record, int firstSample = 0)
    {
        var records = new List<StepRecord>(samples);
        double eta = learningRate / samples;
        for (int q = firstSample; q < samples; q++)
        {
            ulong seed = StepSeeds.For(runSeed, step, (uint)q);
            Perturb(seed, eps);
            double lossPlus = loss();
            Perturb(seed, -2 * eps);
            double lossMinus = loss();
            double g = (lossPlus - lossMinus) / (2 * eps);
            if (!double.IsFinite(g))
            {
                Perturb(seed, eps); // back to θ before throwing, so the last good weights stay intact
                throw new NonFiniteLossException(step, lossPlus, lossMinus);
            }
            var r = new StepRecord(step, q, seed, g, eta, eps, lossPlus, lossMinus);
            record(r);
            Update(r);
            records.Add(r);
        }
        return records;
    }

    /// <summary>Applies a recorded sample exactly as the step did: the same three passes, so the result is bit-identical.</summary>
    public void Replay(StepRecord r)
    {
        Perturb(r.Seed, r.Eps);
        Perturb(r.Seed, -2 * r.Eps);
        Update(r);
    }

    private void Perturb(ulong seed, double scale)
    {
        foreach (var t in trainable.Tensors)
            t.Parameter.Tensor.Backend.Perturb(t.Parameter.Tensor, seed, t.FirstIndex, (float)scale);
    }

    private void Update(StepRecord r)
    {
        foreach (var t in trainable.Tensors)
            t.Parameter.Tensor.Backend.PerturbUpdate(t.Parameter.Tensor, r.Seed, t.FirstIndex, (float)r.Eps,
                (float)r.LearningRate, t.TakesWeightDecay ? (float)weightDecay : 0f, (float)r.ProjectedGradient);
    }
}
