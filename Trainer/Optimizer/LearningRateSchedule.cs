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
}
