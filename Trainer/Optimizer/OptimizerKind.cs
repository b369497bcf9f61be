using System.Text.Json.Serialization;

namespace MeZO.Trainer.Optimizer;

/// <summary>How a run updates its weights: MeZO's zeroth-order SGD (forward passes only), or backprop with SGD or AdamW.</summary>
/// <remarks>run.json spells them as the command line does.</remarks>
public enum OptimizerKind
{
    [JsonStringEnumMemberName("zo-sgd")] ZoSgd,
    [JsonStringEnumMemberName("sgd")] Sgd,
    [JsonStringEnumMemberName("adamw")] AdamW,
}
