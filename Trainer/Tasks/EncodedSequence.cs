namespace MeZO.Trainer.Tasks;

/// <summary>
/// The token ids of one prompt + candidate (or of a prompt alone, for generation) as MeZO feeds them to the model.
/// </summary>
/// <param name="Ids">The ids after left truncation.</param>
/// <param name="ScoredTokens">How many ids at the end belong to the candidate: their mean log-probability is the
/// candidate's score and they are the teacher-forced targets. 0 for a generation input.</param>
/// <param name="DroppedTokens">How many ids left truncation removed (0 when the text fitted).</param>
public readonly record struct EncodedSequence(IReadOnlyList<int> Ids, int ScoredTokens, int DroppedTokens)
{
    public bool Truncated => DroppedTokens > 0;
}
