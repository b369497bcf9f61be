using MeZO.Engine;

namespace MeZO.Trainer.Optimizer;

/// <summary>
/// A step could not go on (a non-finite loss, an update past a 16-bit dtype's range): training stops at
/// <see cref="Step"/>. The message says why; what the run folder keeps is for the run to add, since only it knows.
/// </summary>
public abstract class TrainingStoppedException(string message, long step, Exception? inner = null)
    : InvalidInputException(message, inner)
{
    public long Step { get; } = step;
}
