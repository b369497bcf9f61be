using MeZO.Engine.Models;
using MeZO.Engine.Tests.Reference;

namespace MeZO.Engine.Tests.Adapters;

/// <summary>What the prefix tests share: variants, and the oracle run over the prefix tokens and a sequence as one.</summary>
internal static class PrefixRuns
{
    /// <summary>
    /// Variants whose window is shorter than the tests' sequences. The window counts cache slots (transformers'
    /// sliding_window_overlay), so left padding puts padding slots between the prefix and the real tokens, and the
    /// window then sees fewer prefix slots than it does over prefix ++ sequence alone: these are compared unpadded or
    /// right-padded, where the real tokens follow the prefix directly.
    /// </summary>
    public static bool HasBitingWindow(TinyVariant variant) =>
        variant is TinyVariant.MistralSlidingWindow or TinyVariant.Qwen2SlidingWindow;

    /// <summary>The oracle's logits (L, V) over <paramref name="prefix"/> ++ <paramref name="sequence"/>, one unpadded sequence.</summary>
    public static double[,,] OracleOverConcatenation(NaiveTransformer oracle, int[] prefix, int[] sequence)
    {
        int[] whole = [.. prefix, .. sequence];
        var ids = new int[1, whole.Length];
        for (int t = 0; t < whole.Length; t++) ids[0, t] = whole[t];
        return oracle.Forward(ids);
    }
}
