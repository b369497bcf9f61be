using MeZO.Trainer.Training;

namespace MeZO.Trainer.Runs;

/// <summary>What a finished run reports.</summary>
public sealed record TrainResult(EvalResult? ValidationBefore, EvalResult? ValidationBest, long? BestStep,
    EvalResult? TestBefore, EvalResult? Test, long Steps, TimeSpan Elapsed, long PeakBytes);
