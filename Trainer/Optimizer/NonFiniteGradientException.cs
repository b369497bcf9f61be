namespace MeZO.Trainer.Optimizer;

/// <summary>A backward pass gave a NaN or infinite gradient while the loss was finite: training stops before the update.</summary>
public sealed class NonFiniteGradientException(long step, double loss)
    : TrainingStoppedException($"the gradient became non-finite at step {step} (the loss was {loss}; lower --lr, or clip with --max-grad-norm)", step);
