using System.Text.Json.Serialization;
using MeZO.Engine.Adapters;
using MeZO.Engine.Tensors;

namespace MeZO.Trainer.Training;

/// <summary>
/// What a <see cref="TrainingSession"/> opens: a model, a task's data sampled into splits, and how to run them. A
/// <see cref="TrainSettings"/> is one, with the paper's split sizes; `mezo eval` and the tests open others.
/// </summary>
public record SessionOptions
{
    public required string Model { get; init; }
    public required string Task { get; init; }
    public required string Data { get; init; }
    public int TrainExamples { get; init; }
    public int EvalExamples { get; init; }
    public int TestExamples { get; init; }
    /// <summary>Seeds the sampling of the splits (and, in a training run, the data order and perturbations).</summary>
    public ulong Seed { get; init; } = 42;
    /// <summary>Examples per forward call: the scorer is sized for this many examples' candidates.</summary>
    public int MicroBatchSize { get; init; } = 16;
    public string Backend { get; init; } = "cpu";
    // These four and TrainSettings.Trainable are left out of run.json when null, and read back as null (the default).
    // Null means "as the model has it" (its dtype, its positions) or "none" (no adapter, every weight): a resolved value
    // recorded in its place would differ from the null a resume without the option is given.
    /// <summary>Weight storage dtype (f32, f16, bf16); null keeps the checkpoint's. Named d_type in run.json.</summary>
    [JsonPropertyName("d_type")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DType? Storage { get; init; }
    /// <summary>
    /// The activations' dtype (f32, f16, bf16: `--compute`); null takes the backend's default for the weights' dtype
    /// (float32 on the CPU, the weights' own on CUDA). A forward pass's rounding, so a training setting.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DType? Compute { get; init; }

    /// <summary>
    /// The activations' dtype the session loads its model with: <see cref="Compute"/>, or, where that is null, what the
    /// session needs whatever the backend's default (null: that default). Derived, so not in run.json.
    /// </summary>
    [JsonIgnore]
    public virtual DType? ComputeToLoad => Compute;
    /// <summary>Token budget per sequence; null uses the model's positions.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? MaxLength { get; init; }

    /// <summary>The adapter training adds to the frozen model (LoRA, prefix); null trains the model's own weights.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public PeftKind? Peft { get; init; }
    /// <summary>LoRA's rank r, α and target modules (comma-separated); the MeZO paper's by default.</summary>
    public int LoraRank { get; init; } = Engine.Adapters.LoraConfig.PaperRank;
    public double LoraAlpha { get; init; } = Engine.Adapters.LoraConfig.PaperAlpha;
    public string LoraTargets { get; init; } = string.Join(",", Engine.Adapters.LoraConfig.PaperTargets);
    /// <summary>Prefix tuning's virtual tokens per layer; the MeZO paper's 5 by default.</summary>
    public int PrefixTokens { get; init; } = 5;
    /// <summary>
    /// A saved PEFT adapter folder applied to the model, unmerged (`mezo eval --adapter`); null for none. For
    /// evaluation only, so not in run.json.
    /// </summary>
    [JsonIgnore]
    public string? Adapter { get; init; }

    /// <summary>In-context demonstrations put before each test example (the paper's ICL baseline; 0 is zero-shot). For
    /// evaluation only: MeZO evaluates what it trains without them. Not a training setting, so not in run.json.</summary>
    [JsonIgnore]
    public int Demonstrations { get; init; }

    /// <summary>
    /// The most bytes the compute backend may hold (`--max-device-memory`); null keeps the whole model on it. Below the
    /// model's size the decoder layers stay in host memory and stream through two device slots. Results are bit-identical
    /// either way, so it is no training setting: not in run.json, and a resume may change it.
    /// </summary>
    [JsonIgnore]
    public long? MaxDeviceMemory { get; init; }

    /// <summary>The LoRA configuration these options describe.</summary>
    public LoraConfig LoraSettings() =>
        new(LoraRank, LoraAlpha, LoraTargets.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
}

/// <summary>Which parameter-efficient adapter a run trains.</summary>
public enum PeftKind
{
    Lora,
    Prefix,
}
