namespace MeZO.Engine.Mezo;

/// <summary>
/// The z of one tensor under one step seed: element j of the tensor (row-major, as stored) is
/// z(<see cref="Seed"/>, <see cref="FirstIndex"/> + j) of DESIGN §3, whatever the tensor's dtype or backend.
/// </summary>
public readonly record struct TensorNoise(ulong Seed, ulong FirstIndex);
