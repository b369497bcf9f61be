namespace MeZO.Engine.Tensors;

/// <summary>What a buffer holds, so memory can be reported the way MeZO's claim is stated: weights vs the rest.</summary>
public enum MemoryCategory
{
    Weights,
    Activations,
    Workspace,
}
