using MeZO.Engine.Tensors;

namespace MeZO.Trainer.Training;

/// <summary>What a <see cref="TrainingSession"/> opens: a model, a task's data sampled into splits, and how to run them.</summary>
public sealed record SessionOptions
{
    public required string Model { get; init; }
    public required string Task { get; init; }
    public required string Data { get; init; }
    public int TrainExamples { get; init; }
    public int EvalExamples { get; init; }
    public int TestExamples { get; init; }
    /// <summary>Seeds the sampling of the splits.</summary>
    public ulong Seed { get; init; } = 42;
    /// <summary>Examples per forward call: the scorer is sized for this many examples' candidates.</summary>
    public int MicroBatchSize { get; init; } = 16;
    public string Backend { get; init; } = "cpu";
    /// <summary>Weight storage dtype; null keeps the checkpoint's.</summary>
    public DType? Storage { get; init; }
    /// <summary>Token budget per sequence; null uses the model's positions.</summary>
    public int? MaxLength { get; init; }
}
