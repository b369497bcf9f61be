using MeZO.Engine.Noise;

namespace MeZO.Engine.Models.Generation;

/// <summary>
/// Draws a token from one row of logits by <see cref="SamplingSettings"/>, in double. The uniform of a draw comes from
/// Philox keyed by the seed, at a counter of (sequence, step) in a domain of its own, so a sequence's text depends on
/// the seed and its own position alone, not on the other sequences of the batch or on the order of the draws.
/// </summary>
public sealed class TokenSampler(SamplingSettings settings)
{
    /// <summary>"smpl": the counter word that keeps sampling's draws apart from z, rounding and adapter draws.</summary>
    public const uint Domain = 0x736D_706Cu;

    /// <summary>The token for sequence <paramref name="sequence"/> at step <paramref name="step"/>.</summary>
    /// <exception cref="ArgumentException">a logit is NaN or ±∞ (the caller reports a broken forward pass first).</exception>
    public int Pick(ReadOnlySpan<float> logits, int sequence, int step)
    {
        int vocab = logits.Length;
        var order = new int[vocab];
        for (int v = 0; v < vocab; v++)
        {
            if (!float.IsFinite(logits[v])) throw new ArgumentException($"logit {v} is {logits[v]}: a sampler draws from finite logits only");
            order[v] = v;
        }
        // Most likely first; ties by id, so the order (and so the draw) does not depend on the sort's stability.
        var copy = logits.ToArray();
        Array.Sort(order, (a, b) => copy[b] != copy[a] ? copy[b].CompareTo(copy[a]) : a.CompareTo(b));
        if (settings.IsGreedy) return order[0];

        int kept = settings.TopK > 0 ? Math.Min(settings.TopK, vocab) : vocab;
        double max = copy[order[0]] / settings.Temperature;
        var weights = new double[kept];
        double total = 0;
        for (int i = 0; i < kept; i++) total += weights[i] = Math.Exp(copy[order[i]] / settings.Temperature - max);
        if (settings.TopP < 1)
        {
            // The smallest prefix whose probability reaches top_p (at least one token), as transformers' TopPLogitsWarper keeps.
            double cumulative = 0;
            int nucleus = 0;
            while (nucleus < kept && cumulative < settings.TopP * total) cumulative += weights[nucleus++];
            kept = Math.Max(1, nucleus);
            total = cumulative > 0 ? cumulative : weights[0];
        }
        double u = Uniform(sequence, step) * total;
        for (int i = 0; i < kept; i++)
        {
            u -= weights[i];
            if (u < 0) return order[i];
        }
        return order[kept - 1]; // u within rounding of the total
    }

    /// <summary>A uniform in [0, 1) with 53 random bits.</summary>
    private double Uniform(int sequence, int step)
    {
        ulong seed = settings.Seed;
        var block = Philox4x32.Generate((uint)step, (uint)sequence, Domain, 0, (uint)seed, (uint)(seed >> 32));
        ulong bits = ((ulong)block.X0 << 21) | (block.X1 >> 11);
        return bits * (1.0 / (1UL << 53));
    }
}
