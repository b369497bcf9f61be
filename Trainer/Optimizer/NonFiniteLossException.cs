namespace MeZO.Trainer.Optimizer;

/// <summary>The loss became NaN or infinite: training stops.</summary>
public sealed class NonFiniteLossException : TrainingStoppedException
{
    /// <summary>L+ or L− of a step's perturbation was not finite.</summary>
    public NonFiniteLossException(long step, double lossPlus, double lossMinus)
        : base($"the loss became non-finite at step {step} (L+ = {lossPlus}, L− = {lossMinus})", step) { }

    /// <summary>The loss at the weights about to be saved after <paramref name="step"/> steps was not finite.</summary>
    public NonFiniteLossException(long step, double loss)
        : base($"the loss became non-finite at step {step} (L = {loss} at the weights the step's checkpoint would save)", step) { }
}
