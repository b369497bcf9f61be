using MeZO.Trainer.Tasks;

namespace MeZO.Trainer.Training;

/// <summary>
/// An example as token ids: one sequence per candidate (prompt + candidate, the last ScoredTokens scored) and, for
/// generation tasks, the prompt alone as the generation input.
/// </summary>
public sealed record EncodedExample(PromptedExample Example, IReadOnlyList<EncodedSequence> Candidates, EncodedSequence? GenerationInput)
{
    public bool Truncated => Candidates.Any(c => c.Truncated) || (GenerationInput?.Truncated ?? false);
    public int LongestSequence => Math.Max(Candidates.Max(c => c.Ids.Count), GenerationInput?.Ids.Count ?? 0);
}
