using MeZO.Engine.Models.Gradients;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>How a fine-tuning run updates its weights, as far as its memory is concerned.</summary>
public enum TrainingMethod
{
    /// <summary>MeZO: two forward streams in lockstep, no gradient, no state.</summary>
    Mezo,
    /// <summary>Backprop with SGD: float32 gradients, float32 masters of 16-bit weights.</summary>
    Sgd,
    /// <summary>Backprop with AdamW: SGD's memory plus two float32 moments per weight.</summary>
    AdamW,
}

/// <summary>
/// The engine bytes a training run holds at its peak, by category, computed from the same sizes the engine allocates:
/// the weights; float32 gradients (backprop); optimizer state (AdamW's moments, float32 masters of 16-bit weights); and
/// activations, meaning every buffer of the passes (the evaluation workspace a run keeps, MeZO's second stream, or
/// backprop's kept activations, scratch and LM-head logits). The scenario is `mezo bench memory`'s: B sequences of T
/// tokens, every token after the first scored (the language-modelling loss), every weight trained.
/// </summary>
public sealed record MemoryEstimate(long Weights, long Gradients, long OptimizerState, long Activations)
{
    public long Total => Weights + Gradients + OptimizerState + Activations;

    /// <summary>Optimizer state per weight: AdamW's two float32 moments, and a float32 master for a 16-bit weight.</summary>
    public static int StateBytesPerWeight(TrainingMethod method, DType dtype) =>
        method == TrainingMethod.Mezo ? 0 : (method == TrainingMethod.AdamW ? 8 : 0) + (dtype == DType.F32 ? 0 : 4);

    /// <param name="parameters">each parameter's element count and stored dtype</param>
    /// <param name="recomputeLayers">gradient checkpointing (backprop only)</param>
    /// <param name="compute">MeZO's activation dtype (backprop computes in float32)</param>
    public static MemoryEstimate For(TrainingMethod method, ArchitectureSpec spec, IReadOnlyList<(long Elements, DType Type)> parameters,
        int batch, int length, bool recomputeLayers = false, DType compute = DType.F32)
    {
        long weights = parameters.Sum(p => p.Elements * p.Type.SizeOf());
        if (method == TrainingMethod.Mezo)
            return new MemoryEstimate(weights, 0, 0, ForwardWorkspace.EstimateBytes(spec, batch, length, activations: compute) +
                WorkspacePlan.For(spec, batch, length, 0, compute, lockstepPartner: true).Bytes);
        long evaluation = ForwardWorkspace.EstimateBytes(spec, batch, length);
        long count = parameters.Sum(p => p.Elements);
        long state = parameters.Sum(p => p.Elements * StateBytesPerWeight(method, p.Type));
        int pairs = batch * Math.Max(1, length - 1);
        // The backward's forward pass runs in the evaluation workspace a run holds anyway.
        return new MemoryEstimate(weights, 4 * count, state,
            evaluation + ModelGradient.EstimateWorkingBytes(spec, batch, length, recomputeLayers, pairs, sharedWorkspace: true));
    }
}
