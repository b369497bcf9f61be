namespace MeZO.Trainer.Optimizer;

/// <summary>
/// An update carried a 16-bit weight past the dtype's largest finite value (a learning rate too large for the run):
/// training stops.
/// </summary>
public sealed class WeightOverflowException(long step, OverflowException overflow)
    : TrainingStoppedException($"at step {step} {overflow.Message} (lower --lr, or train with --dtype f32)", step, overflow);
