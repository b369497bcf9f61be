using MeZO.Engine.Models;

namespace MeZO.Trainer.Training;

/// <summary>A token sequence whose last <paramref name="Scored"/> tokens are scored, each given the ones before it.</summary>
internal readonly record struct ScoredSequence(IReadOnlyList<int> Ids, int Scored);

/// <summary>
/// Sequences packed into one forward call (right-padded), with the (row, target) pair of every scored token in
/// sequence order: token t of a sequence is predicted from its hidden state at t − 1.
/// </summary>
internal readonly record struct PackedSequences(TokenBatch Batch, int[] Rows, int[] Targets)
{
    /// <exception cref="InvalidOperationException">a sequence is longer than <paramref name="maxLength"/>, the buffers' size.</exception>
    public static PackedSequences Pack(IReadOnlyList<ScoredSequence> sequences, int maxLength)
    {
        var ids = new IReadOnlyList<int>[sequences.Count];
        int scoredTotal = 0;
        for (int i = 0; i < sequences.Count; i++)
        {
            if (sequences[i].Ids.Count > maxLength)
                throw new InvalidOperationException($"a sequence of {sequences[i].Ids.Count} tokens exceeds the scorer's {maxLength}");
            ids[i] = sequences[i].Ids;
            scoredTotal += sequences[i].Scored;
        }
        var batch = TokenBatch.Pack(ids, PaddingSide.Right);
        var rows = new int[scoredTotal];
        var targets = new int[scoredTotal];
        int k = 0;
        for (int i = 0; i < sequences.Count; i++)
        {
            var s = sequences[i];
            int n = s.Ids.Count;
            for (int t = n - s.Scored; t < n; t++, k++)
            {
                rows[k] = batch.Row(i, t - 1);
                targets[k] = s.Ids[t];
            }
        }
        return new PackedSequences(batch, rows, targets);
    }
}
