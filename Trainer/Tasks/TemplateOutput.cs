namespace MeZO.Trainer.Tasks;

/// <summary>
/// Turns what a MeZO template returns into a <see cref="PromptedExample"/>. MeZO's templates have two methods:
/// encode(example), the text without the answer, and verbalize(example, candidate), the text with it. MeZO's
/// encode_prompt (large_models/utils.py) strips spaces (only ' ') from both ends of each, and, with no demonstrations,
/// the text it finally tokenizes is the verbalized one with leading whitespace removed. We apply the same cleaning and
/// then require the verbalized text to start with the prompt: the candidate is the rest. That holds for every MeZO
/// template of our tasks (a template whose verbalized text did not extend its prompt would be a bug here).
/// </summary>
internal static class TemplateOutput
{
    public static PromptedExample Build(TaskExample example, string encoded, IReadOnlyList<string> verbalized,
        int correctCandidate, IReadOnlyList<string> goldAnswers, IReadOnlyList<int>? acceptedCandidates = null)
    {
        string prompt = Clean(encoded);
        var candidates = new string[verbalized.Count];
        for (int i = 0; i < verbalized.Count; i++)
        {
            string full = Clean(verbalized[i]);
            if (!full.StartsWith(prompt, StringComparison.Ordinal))
                throw new InvalidOperationException(
                    $"example {example}: the verbalized text of candidate {i} does not extend the prompt; the template is inconsistent");
            candidates[i] = full[prompt.Length..];
        }
        return new PromptedExample(example.Id, prompt, candidates, correctCandidate, goldAnswers, acceptedCandidates);
    }

    /// <summary>MeZO: text.strip(' '), then (train_sep + text).lstrip() drops any leading whitespace as well.</summary>
    private static string Clean(string text) => PythonText.LStrip(text.Trim(' '));
}
