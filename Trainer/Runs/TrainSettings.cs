using System.Text.Json;
using System.Text.Json.Serialization;
using MeZO.Trainer.Optimizer;

namespace MeZO.Trainer.Runs;

/// <summary>The training objective: the differentiable loss, or a non-differentiable metric only a ZO method can optimise.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Objective>))]
public enum Objective
{
    Loss,
    Accuracy,
    F1,
}

/// <summary>
/// Every setting of a training run. Written to run.json; a resumed run must match it exactly, because the data order,
/// the seeds and the updates are all functions of these values and the step number.
/// Defaults are the MeZO paper's for OPT: batch 16, ε 1e-3, constant learning rate, 20,000 steps, validation every 4,000.
/// </summary>
public sealed record TrainSettings
{
    public required string Model { get; init; }
    public required string Task { get; init; }
    public required string Data { get; init; }
    public int TrainExamples { get; init; } = 1000;
    public int EvalExamples { get; init; } = 500;
    public int TestExamples { get; init; } = 1000;
    public long Steps { get; init; } = 20_000;
    public int BatchSize { get; init; } = 16;
    /// <summary>Examples per forward call; the batch's loss is accumulated over micro-batches under one perturbation.</summary>
    public int MicroBatchSize { get; init; } = 16;
    public double LearningRate { get; init; } = 1e-6;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Constant;
    public double Eps { get; init; } = 1e-3;
    public double WeightDecay { get; init; }
    public int Samples { get; init; } = 1;
    public ulong Seed { get; init; } = 42;
    public long EvalEvery { get; init; } = 4000;
    public long CheckpointEvery { get; init; } = 1000;
    public long LogEvery { get; init; } = 10;
    public string? Trainable { get; init; }
    public Objective Objective { get; init; } = Objective.Loss;
    /// <summary>Weight storage dtype (f32, f16, bf16); null keeps the checkpoint's.</summary>
    public string? DType { get; init; }
    public string Backend { get; init; } = "cpu";
    /// <summary>Token budget per sequence; null uses the model's positions.</summary>
    public int? MaxLength { get; init; }

    /// <summary>The weight storage dtype <see cref="DType"/> names, or null to keep the checkpoint's.</summary>
    public Engine.Tensors.DType? StorageType() =>
        DType is null ? null
        : Engine.Tensors.DTypeInfo.TryParseOption(DType, out var type) ? type
        : throw new Engine.InvalidInputException($"--dtype '{DType}' is unknown (f32, f16, bf16)");

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        // A null where the type allows none (run.json's "settings": null) is a malformed file, not a null that resume
        // dereferences later.
        RespectNullableAnnotations = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>The session this run trains in: its model, data splits, micro-batch, backend and storage.</summary>
    public Training.SessionOptions SessionOptions() => new()
    {
        Model = Model, Task = Task, Data = Data, TrainExamples = TrainExamples, EvalExamples = EvalExamples,
        TestExamples = TestExamples, Seed = Seed, MicroBatchSize = MicroBatchSize, Backend = Backend, Storage = StorageType(),
        MaxLength = MaxLength,
    };

    /// <summary>The settings that decide the trajectory; everything but where the run lives and how often it logs.</summary>
    public TrainSettings WithoutBookkeeping() => this with { LogEvery = 0, Backend = "" };
}
