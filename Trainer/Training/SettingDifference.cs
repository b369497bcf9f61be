namespace MeZO.Trainer.Training;

/// <summary>One setting of <see cref="TrainSettings"/> (by property name) with the run's value and the value given now.</summary>
public sealed record SettingDifference(string Setting, object? Run, object? Given);
