namespace MeZO.Engine.Mezo;

/// <summary>The two losses of one sample: the objective at θ + εz and at θ − εz, on the same batch.</summary>
public readonly record struct LossPair(double Plus, double Minus);

/// <summary>
/// One sample of MeZO (Algorithm 1 of Malladi et al., DESIGN §3) over a trainable set: L± = L(θ ± εz) from forward
/// passes that add ±εz as they read the weights, g = (L+ − L−)/2ε, then one pass θ ← round(θ(1 − ηλ) − ηgz). The
/// stored weights change only in <see cref="Update"/>, so nothing has to be restored and a failed evaluation leaves
/// θ as it was. The trainer, the step benchmark and the parity harness all step through here.
/// </summary>
public sealed class MezoStep(TrainableSet trainable, double eps, double weightDecay)
{
    public TrainableSet Trainable { get; } = trainable;
    public double Eps { get; } = eps;
    public double WeightDecay { get; } = weightDecay;

    /// <summary>
    /// Evaluates L+ and L− through <paramref name="losses"/> (which receives the +ε perturbation; its −ε twin is
    /// <see cref="Minus"/>), and returns them with g. Does not touch the weights.
    /// </summary>
    public (LossPair Losses, double ProjectedGradient) Evaluate(ulong seed, Func<WeightPerturbation, LossPair> losses)
    {
        var pair = losses(new WeightPerturbation(Trainable, seed, (float)Eps));
        return (pair, ProjectedGradient(pair));
    }

    /// <summary>g = (L+ − L−)/2ε: the directional derivative along z that the update scales z by.</summary>
    public double ProjectedGradient(LossPair losses) => (losses.Plus - losses.Minus) / (2 * Eps);

    /// <summary>The −ε twin of a +ε perturbation.</summary>
    public static WeightPerturbation Minus(WeightPerturbation plus) => plus with { Scale = -plus.Scale };

    /// <summary>
    /// θ ← round(θ(1 − ηλ) − ηgz) on every trainable tensor; λ = 0 on biases and norm weights. A streamed model's layer
    /// tensors take it later, just before the layer's next copy to the device or before anything else reads the host
    /// weights (<see cref="Models.Streaming.PendingUpdates"/>): the same call on the same bits, overlapped with the next
    /// forward pass. An overflow then surfaces there, through <paramref name="overflow"/> all the same.
    /// </summary>
    /// <param name="learningRate">η, already divided by the number of samples</param>
    /// <param name="overflow">the error an update past a 16-bit dtype's range becomes, wherever it runs (null: the OverflowException)</param>
    public void Update(ulong seed, double learningRate, double projectedGradient, Func<OverflowException, Exception>? overflow = null)
    {
        var decayed = UpdateFactors.For(learningRate, WeightDecay, projectedGradient);
        var plain = UpdateFactors.For(learningRate, 0, projectedGradient);
        foreach (var t in Trainable.Tensors)
        {
            var update = new TensorUpdate(t.Parameter.Tensor, new TensorNoise(seed, t.FirstIndex), t.TakesWeightDecay ? decayed : plain, overflow);
            if (Trainable.Pending?.Defer(update) != true) update.Run();
        }
    }
}
