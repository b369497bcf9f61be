using MeZO.Engine;

namespace MeZO.Trainer.Optimizer;

public enum ScheduleKind
{
    Constant,
    /// <summary>From the base rate at step 0 linearly to 0 at the last step (transformers' linear schedule, no warm-up).</summary>
    Linear,
}

public sealed record LearningRateSchedule(ScheduleKind Kind, double BaseRate, long TotalSteps)
{
    public double At(long step) => Kind switch
    {
        ScheduleKind.Constant => BaseRate,
        ScheduleKind.Linear => BaseRate * Math.Max(0.0, (double)(TotalSteps - step) / Math.Max(1, TotalSteps)),
        _ => throw new ArgumentOutOfRangeException(nameof(Kind)),
    };

    public static ScheduleKind Parse(string? text) => text?.ToLowerInvariant() switch
    {
        null or "constant" => ScheduleKind.Constant,
        "linear" => ScheduleKind.Linear,
        _ => throw new InvalidInputException($"--lr-schedule '{text}' is unknown (constant, linear)"),
    };
}
