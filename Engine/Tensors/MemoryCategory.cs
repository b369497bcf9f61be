namespace MeZO.Engine.Tensors;

/// <summary>What a buffer holds, so memory can be reported the way MeZO's claim is stated: weights vs the rest.</summary>
public enum MemoryCategory
{
    Weights,
    /// <summary>A PEFT adapter's trainable tensors (LoRA's A and B, a prefix), beside the frozen base weights.</summary>
    Adapter,
    Activations,
    Workspace,
    /// <summary>First-order gradients, one float32 tensor per parameter: what backprop holds and MeZO never does.</summary>
    Gradients,
    /// <summary>A first-order optimizer's state: AdamW's two moments, and float32 master copies of 16-bit weights.</summary>
    OptimizerState,
}
