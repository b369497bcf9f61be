namespace MeZO.Engine.Adapters;

/// <summary>
/// What an attached adapter adds to a forward workspace: LoRA's bypass rows (N × rank, then N × the widest adapted
/// output) and a prefix's virtual tokens. All zero for a model without an adapter.
/// </summary>
public readonly record struct AdapterSlots(int LoraRank, int LoraOutputWidth, int PrefixTokens);
