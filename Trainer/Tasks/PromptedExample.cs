namespace MeZO.Trainer.Tasks;

/// <summary>
/// An example cast by the MeZO template of its task: the prompt, and each candidate as the exact text that the template
/// appends to it (a leading space or newline included where the template has one), so that Prompt + candidate is
/// character for character the text MeZO tokenizes. How that text becomes tokens, and which of them are scored, is
/// <see cref="PromptEncoder"/>'s business.
/// </summary>
/// <remarks>
/// Examples: SST-2 → Prompt "it 's a charming and often affecting journey . It was", Candidates [" terrible", " great"];
/// RTE → Prompt "…\nDoes this mean that \"…\" is true? Yes or No?\n", Candidates ["Yes", "No"];
/// SQuAD → Prompt "Title: …\nContext: …\nQuestion: …\nAnswer:", Candidates [" first gold answer\n"].
/// </remarks>
public sealed class PromptedExample
{
    public PromptedExample(string id, string prompt, IReadOnlyList<string> candidates, int correctCandidate,
        IReadOnlyList<string> goldAnswers, IReadOnlyList<int>? acceptedCandidates = null)
    {
        if (candidates.Count == 0)
            throw new ArgumentException($"example {id}: a prompted example needs at least one candidate", nameof(candidates));
        if ((uint)correctCandidate >= (uint)candidates.Count)
            throw new ArgumentOutOfRangeException(nameof(correctCandidate),
                $"example {id}: correct candidate {correctCandidate} is not among its {candidates.Count} candidates");
        Id = id;
        Prompt = prompt;
        Candidates = candidates;
        CorrectCandidate = correctCandidate;
        GoldAnswers = goldAnswers;
        AcceptedCandidates = acceptedCandidates ?? [correctCandidate];
    }

    /// <summary>The id of the <see cref="TaskExample"/> it was rendered from.</summary>
    public string Id { get; }

    /// <summary>The text before the candidate. For generation tasks, the whole input of the model.</summary>
    public string Prompt { get; }

    /// <summary>The continuations, in the task's order (the verbalizer's classes, COPA's choices, ReCoRD's entities); for
    /// generation tasks one: the first gold answer as the template writes it for teacher forcing.</summary>
    public IReadOnlyList<string> Candidates { get; }

    /// <summary>The candidate that training teaches (cross-entropy target or teacher-forced text).</summary>
    public int CorrectCandidate { get; }

    /// <summary>The gold answers as plain text: the correct verbalizer word or choice, ReCoRD's correct entities, or
    /// every gold answer of SQuAD/DROP (what F1 and exact match are computed against).</summary>
    public IReadOnlyList<string> GoldAnswers { get; }

    /// <summary>The candidates a prediction may pick to count as correct: just <see cref="CorrectCandidate"/>, except for
    /// ReCoRD where every entity among the gold answers counts (MeZO: "predicted in correct candidates").</summary>
    public IReadOnlyList<int> AcceptedCandidates { get; }

    public bool IsCorrect(int predictedCandidate) => AcceptedCandidates.Contains(predictedCandidate);

    /// <summary>The full text MeZO tokenizes for one candidate.</summary>
    public string FullText(int candidate) => Prompt + Candidates[candidate];
}
