using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>
/// Memory to fine-tune a model at batch B and length T: MeZO (weights + one forward's workspace: no gradients, no
/// optimizer state) against backpropagation with AdamW as usually run (gradients in the weights' dtype, fp32 Adam
/// moments, an fp32 master copy when weights are 16-bit, activations kept for the backward pass).
/// </summary>
public sealed record MemoryEstimate(
    long WeightBytes,
    long MezoWorkspaceBytes,
    long GradientBytes,
    long OptimizerStateBytes,
    long MasterWeightBytes,
    long BackpropActivationBytes)
{
    public long MezoTotal => WeightBytes + MezoWorkspaceBytes;
    public long BackpropTotal => WeightBytes + GradientBytes + OptimizerStateBytes + MasterWeightBytes + BackpropActivationBytes;

    public static MemoryEstimate For(ArchitectureSpec spec, IReadOnlyList<(long Elements, DType Type)> parameters, int batch, int length)
    {
        long weights = parameters.Sum(p => p.Elements * p.Type.SizeOf());
        long count = parameters.Sum(p => p.Elements);
        long sixteenBit = parameters.Where(p => p.Type != DType.F32).Sum(p => p.Elements);
        // Activations saved for backward, per layer: s·b·h·(34 + 5·a·s/h) bytes with 16-bit activations
        // (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models", eq. 1, no
        // dropout masks counted twice); doubled when training in float32. Plus the logits and their gradient in fp32.
        double activationScale = sixteenBit > 0 ? 1.0 : 2.0;
        double perLayer = (double)length * batch * spec.HiddenSize * (34.0 + 5.0 * spec.NumHeads * length / spec.HiddenSize);
        long activations = (long)(perLayer * spec.NumLayers * activationScale) + 2L * batch * length * spec.VocabSize * 4;
        return new MemoryEstimate(
            WeightBytes: weights,
            MezoWorkspaceBytes: ForwardWorkspace.EstimateBytes(spec, batch, length),
            GradientBytes: weights,
            OptimizerStateBytes: 8 * count,
            MasterWeightBytes: 4 * sixteenBit,
            BackpropActivationBytes: activations);
    }
}
