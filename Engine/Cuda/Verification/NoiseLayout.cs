using MeZO.Engine.Models;

namespace MeZO.Engine.Cuda.Verification;

/// <summary>
/// Where each parameter's elements start in the z stream of a full-parameter step. <see cref="ModelWeights.Parameters"/>
/// is already in DESIGN §3's order (ordinal names, a tied tensor once), so the offsets are its running element counts.
/// </summary>
internal static class NoiseLayout
{
    public static ulong[] FirstIndices(IReadOnlyList<NamedTensor> parameters)
    {
        var firsts = new ulong[parameters.Count];
        for (int i = 1; i < parameters.Count; i++) firsts[i] = firsts[i - 1] + (ulong)parameters[i - 1].Tensor.ElementCount;
        return firsts;
    }
}
