using MeZO.Engine.Mezo;

namespace MeZO.Engine.Models.Generation;

/// <summary>
/// Decoding with a KV cache: the prompts (left-padded into one batch) are run once, then one token per step, the most
/// likely one (greedy, on the device) or one drawn by <see cref="SamplingSettings"/> from the logits. A sequence stops
/// at the end-of-sequence id or when its stop rule fires; the batch stops when all have.
/// </summary>
public sealed class TokenGenerator(Transformer model)
{
    /// <summary>
    /// Generates up to <paramref name="maxNewTokens"/> tokens after each prompt. <paramref name="stopAfter"/> sees a
    /// sequence's new tokens after each step and may end it (e.g. at a newline); the token that triggered the stop is kept.
    /// Under a <paramref name="perturbation"/> every forward call computes with θ + scale·z (MeZO's objectives that
    /// generate, such as F1); z is regenerated in each call and θ is never written. <paramref name="sampling"/> null or
    /// greedy takes the most likely token.
    /// </summary>
    public IReadOnlyList<int[]> Generate(IReadOnlyList<IReadOnlyList<int>> prompts, int maxNewTokens,
        int? endOfSequence, Func<IReadOnlyList<int>, bool>? stopAfter = null, WeightPerturbation? perturbation = null,
        SamplingSettings? sampling = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxNewTokens);
        sampling?.Validate();
        var sampler = sampling is { IsGreedy: false } ? new TokenSampler(sampling) : null;
        var batch = TokenBatch.Pack(prompts, PaddingSide.Left);
        int b = batch.BatchSize, promptLength = batch.Length;
        var outputs = Enumerable.Range(0, b).Select(_ => new List<int>()).ToArray();
        if (maxNewTokens == 0) return outputs.Select(o => o.ToArray()).ToArray();

        var spec = model.Spec;
        // The model has positions for max_position_embeddings tokens; checked before the cache is sized, so an absurd
        // request is a clear error rather than an out-of-memory crash.
        int prefix = model.Prefix?.Tokens ?? 0;
        if (prefix > 0) model.CheckPrefixFits((long)promptLength + maxNewTokens);
        else if ((long)promptLength + maxNewTokens > spec.MaxPositions)
            throw new InvalidInputException(
                $"a prompt of {promptLength} tokens plus {maxNewTokens} new tokens exceeds the {spec.MaxPositions} positions of {model.Directory}");
        // A prefix takes the cache's first P slots, attended by every token.
        int capacity = prefix + promptLength + maxNewTokens;
        using var ws = model.CreateWorkspace(b, promptLength, cacheCapacity: capacity);
        var mask = new int[b * capacity];
        var realSoFar = new int[b];
        for (int i = 0; i < b; i++)
        {
            mask.AsSpan(i * capacity, prefix).Fill(1);
            Array.Copy(batch.Mask, i * promptLength, mask, i * capacity + prefix, promptLength);
            realSoFar[i] = prefix + batch.Lengths[i];
        }

        // Prefill: the whole prompt batch through the cache, after the prefix.
        var views = ws.ViewsFor(b, promptLength);
        model.Backend.Upload(views.KeyMask, mask);
        model.WritePrefixToCache(views, perturbation);
        var final = model.Run(views, batch.Ids, spec.PositionsOf(batch, prefix), pastLength: prefix, perturbation);
        var lastRows = Enumerable.Range(0, b).Select(i => i * promptLength + promptLength - 1).ToArray();
        var next = new int[b];
        var logits = sampler is null ? [] : new float[b * spec.VocabSize];
        void Choose(Tensor hidden, int[] rows, int step)
        {
            if (sampler is null)
            {
                model.ArgmaxAtRows(ws, hidden, rows, next, perturbation);
                return;
            }
            model.LogitsAtRows(ws, hidden, rows, logits, perturbation);
            for (int i = 0; i < b; i++) next[i] = sampler.Pick(logits.AsSpan(i * spec.VocabSize, spec.VocabSize), i, step);
        }
        Choose(final, lastRows, 0);

        var done = new bool[b];
        var stepRows = Enumerable.Range(0, b).ToArray();
        var stepPositions = new int[b];
        for (int step = 0; ; step++)
        {
            for (int i = 0; i < b; i++)
            {
                if (done[i]) continue;
                outputs[i].Add(next[i]);
                if (next[i] == endOfSequence || (stopAfter?.Invoke(outputs[i]) ?? false) || outputs[i].Count == maxNewTokens)
                    done[i] = true;
            }
            if (done.All(d => d)) break;

            int past = prefix + promptLength + step;
            var decode = ws.ViewsFor(b, 1);
            for (int i = 0; i < b; i++)
            {
                mask[i * capacity + past] = 1;
                stepPositions[i] = spec.PositionOf(realSoFar[i]++, isPadding: false);
            }
            model.Backend.Upload(decode.KeyMask, mask);
            final = model.Run(decode, next, stepPositions, past, perturbation);
            Choose(final, stepRows, step + 1);
        }
        return outputs.Select(o => o.ToArray()).ToArray();
    }
}
