namespace MeZO.Trainer.Data;

/// <summary>Seeded random permutations, the sampling primitive of <see cref="DatasetSplits"/>.</summary>
public static class Permutation
{
    /// <summary>
    /// A permutation of 0…n−1 that depends only on (n, seed): start from the identity and, for i = n−1 down to 1, swap
    /// element i with element j = NextBelow(i + 1) of a fresh <see cref="SplitMix64"/>(seed) (Fisher–Yates, Durstenfeld's
    /// form). Every permutation is equally likely. Like numpy's permutation that MeZO samples with, a prefix of it is a
    /// uniform sample without replacement, so asking for more examples extends a sample rather than replacing it.
    /// </summary>
    public static int[] Random(int n, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var random = new SplitMix64(seed);
        for (int i = n - 1; i > 0; i--)
        {
            int j = (int)random.NextBelow((ulong)i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
