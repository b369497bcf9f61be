namespace MeZO.Engine.Models;

public enum PaddingSide
{
    Left,
    Right,
}

/// <summary>
/// Sequences of token ids padded into one (B, T) batch with an attention mask (1 = real token). Left padding lines up
/// the last tokens (generation); right padding lines up the first (scoring).
/// </summary>
public sealed class TokenBatch
{
    private TokenBatch(int batch, int length, int[] ids, int[] mask, int[] starts, int[] lengths)
    {
        BatchSize = batch;
        Length = length;
        Ids = ids;
        Mask = mask;
        Starts = starts;
        Lengths = lengths;
    }

    public int BatchSize { get; }
    public int Length { get; }
    /// <summary>(B, T) token ids; padding holds the pad id.</summary>
    public int[] Ids { get; }
    /// <summary>(B, T) 1 for real tokens, 0 for padding.</summary>
    public int[] Mask { get; }
    /// <summary>Column of each sequence's first real token.</summary>
    public int[] Starts { get; }
    public int[] Lengths { get; }

    /// <summary>The flat row index (b·T + t) of token <paramref name="i"/> of sequence <paramref name="b"/>.</summary>
    public int Row(int b, int i) => b * Length + Starts[b] + i;

    public static TokenBatch Pack(IReadOnlyList<IReadOnlyList<int>> sequences, PaddingSide side, int padId = 0)
    {
        if (sequences.Count == 0) throw new InvalidInputException("cannot run a forward pass on an empty batch");
        int length = sequences.Max(s => s.Count);
        if (length == 0) throw new InvalidInputException("cannot run a forward pass on empty sequences");
        int batch = sequences.Count;
        var ids = new int[batch * length];
        var mask = new int[batch * length];
        var starts = new int[batch];
        var lengths = new int[batch];
        for (int b = 0; b < batch; b++)
        {
            var s = sequences[b];
            if (s.Count == 0) throw new InvalidInputException($"sequence {b} of the batch is empty");
            int start = side == PaddingSide.Left ? length - s.Count : 0;
            starts[b] = start;
            lengths[b] = s.Count;
            Array.Fill(ids, padId, b * length, length);
            for (int i = 0; i < s.Count; i++)
            {
                ids[b * length + start + i] = s[i];
                mask[b * length + start + i] = 1;
            }
        }
        return new TokenBatch(batch, length, ids, mask, starts, lengths);
    }
}
