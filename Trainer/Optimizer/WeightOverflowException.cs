using MeZO.Engine;

namespace MeZO.Trainer.Optimizer;

/// <summary>
/// An update carried a 16-bit weight past the dtype's largest finite value (a learning rate too large for the run):
/// training stops, keeping the last good checkpoint.
/// </summary>
public sealed class WeightOverflowException(long step, OverflowException overflow)
    : InvalidInputException(
        $"at step {step} {overflow.Message}; training stopped, the last good checkpoint is kept (lower --lr, or train with --dtype f32)",
        overflow)
{
    public long Step { get; } = step;
}
