using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using MeZO.Engine.Models.Gradients;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Optimizer;

namespace MeZO.Trainer.Training;

/// <summary>
/// Every setting of a training run: the session it trains in and the steps it takes. Written to run.json; a resumed
/// run must match it, because the data order, the seeds and the updates are all functions of these values and the step
/// number. Defaults are the MeZO paper's for OPT: 1000 / 500 / 1000 examples, batch 16, ε 1e-3, constant learning rate,
/// 20,000 steps, validation every 4,000.
/// </summary>
public sealed record TrainSettings : SessionOptions
{
    public TrainSettings()
    {
        TrainExamples = 1000;
        EvalExamples = 500;
        TestExamples = 1000;
    }

    public long Steps { get; init; } = 20_000;
    public int BatchSize { get; init; } = 16;
    public double LearningRate { get; init; } = 1e-6;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Constant;
    public double Eps { get; init; } = 1e-3;
    public double WeightDecay { get; init; }
    public int Samples { get; init; } = 1;
    public long EvalEvery { get; init; } = 4000;
    public long CheckpointEvery { get; init; } = 1000;
    public long LogEvery { get; init; } = 10;
    /// <summary>A filter on the weights' names; null trains them all. Left out of run.json when null.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Trainable { get; init; }
    public Objective Objective { get; init; } = Objective.Loss;

    /// <summary>MeZO's ZO-SGD (the default), or backprop's SGD or AdamW: the paper's FT baseline on the same engine.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.ZoSgd;
    // AdamW's hyperparameters and the global gradient-norm clip, named and defaulted as Hugging Face's Trainer has them.
    public double AdamBeta1 { get; init; } = 0.9;
    public double AdamBeta2 { get; init; } = 0.999;
    public double AdamEpsilon { get; init; } = 1e-8;
    /// <summary>Clip the gradient's global norm to this (first-order optimizers); 0 for no clipping.</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Recompute each layer's activations in the backward pass instead of keeping them (first-order optimizers).</summary>
    public bool GradientCheckpointing { get; init; }

    /// <summary>
    /// What the ranks of a data-parallel job (mpirun) share out in a MeZO step: the batch's forward calls, or the step's
    /// samples. Either way every rank computes the same g and update as one process would, so this is bookkeeping.
    /// </summary>
    public DistributeKind Distribute { get; init; } = DistributeKind.Batch;

    [JsonIgnore]
    public bool FirstOrder => Optimizer != OptimizerKind.ZoSgd;

    /// <summary>Backprop's float32 where no --compute is given: CUDA's default for a 16-bit model is its own dtype, which backprop refuses.</summary>
    [JsonIgnore]
    public override DType? ComputeToLoad => Compute ?? (FirstOrder ? ModelGradient.ActivationDType : null);

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        // A null where the type allows none (run.json's "settings": null) is a malformed file, not a null that resume
        // dereferences later.
        RespectNullableAnnotations = true,
        // Written as names only: an integer read back would be any value of the enum's type, defined or not.
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
    };

    /// <summary>
    /// The settings that decide the trajectory up to a step: everything but how often the run logs, the backend it runs on
    /// (CPU and CUDA steps are bit-identical), the number of steps (a constant-rate run may be extended), whether
    /// layers are recomputed (the same gradient, bit for bit) and what the ranks of a job share (the same steps).
    /// </summary>
    public TrainSettings WithoutBookkeeping() =>
        this with { LogEvery = 0, Backend = "", Steps = 0, GradientCheckpointing = false, Distribute = DistributeKind.Batch };

    /// <summary>The model and data folders as full paths, so a run folder does not depend on where it was started from.</summary>
    public TrainSettings WithFullPaths() => this with { Model = Path.GetFullPath(Model), Data = Path.GetFullPath(Data) };

    /// <summary>
    /// The properties a run is made of, which run.json records (those it leaves out when null among them); the
    /// evaluation-only options a session also has (an adapter to apply, demonstrations) are not among them.
    /// </summary>
    public static IEnumerable<PropertyInfo> RecordedProperties =>
        typeof(TrainSettings).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<JsonIgnoreAttribute>() is not { Condition: JsonIgnoreCondition.Always });

    /// <summary>Each recorded property whose value differs, with this value as the run's and <paramref name="given"/>'s as given.</summary>
    public IReadOnlyList<SettingDifference> DifferencesFrom(TrainSettings given) =>
        RecordedProperties
            .Where(p => !Equals(p.GetValue(this), p.GetValue(given)))
            .Select(p => new SettingDifference(p.Name, p.GetValue(this), p.GetValue(given)))
            .ToArray();
}
