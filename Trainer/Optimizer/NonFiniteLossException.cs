using MeZO.Engine;

namespace MeZO.Trainer.Optimizer;

/// <summary>The loss became NaN or infinite: training stops, keeping the last good checkpoint.</summary>
public sealed class NonFiniteLossException(long step, double lossPlus, double lossMinus)
    : InvalidInputException($"the loss became non-finite at step {step} (L+ = {lossPlus}, L− = {lossMinus}); training stopped, the last good checkpoint is kept")
{
    public long Step { get; } = step;
}
