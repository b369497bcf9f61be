namespace MeZO.Engine.Adapters;

/// <summary>
/// What the adapters attached to a model add to a forward workspace's buffers, fixed when the workspace is created.
/// </summary>
/// <param name="LoraRank">r of the LoRA adapters; 0 for none</param>
/// <param name="LoraOutputWidth">the widest output a LoRA adapter adds to; 0 for none</param>
/// <param name="PrefixTokens">P, the virtual tokens of a prefix (<see cref="PrefixAdapter"/>); 0 for none</param>
public readonly record struct AdapterSlots(int LoraRank, int LoraOutputWidth, int PrefixTokens);
