namespace MeZO.Cli;

/// <summary>"Did you mean": the known words closest to a mistyped one, for unknown options and commands.</summary>
internal static class Suggestions
{
    /// <summary>
    /// The candidates nearest to <paramref name="typed"/> within a distance that grows with its length (one edit in a
    /// short word, up to three in a long one), ties kept; empty when nothing is that close. Underscores compare as
    /// hyphens, so Hugging Face's spelling of an option finds ours.
    /// </summary>
    public static IReadOnlyList<string> Closest(string typed, IEnumerable<string> candidates)
    {
        string word = Normalised(typed);
        int limit = Math.Clamp(word.Length / 4, 1, 3);
        var scored = candidates.Distinct().Select(c => (Candidate: c, Distance: Distance(word, Normalised(c))))
            .Where(s => s.Distance <= limit).ToList();
        if (scored.Count == 0) return [];
        int best = scored.Min(s => s.Distance);
        return scored.Where(s => s.Distance == best).Select(s => s.Candidate).ToList();
    }

    private static string Normalised(string word) => word.TrimStart('-').Replace('_', '-').ToLowerInvariant();

    /// <summary>Edits between two words, a swap of neighbours counting as one (optimal string alignment): "stesp" is one from "steps".</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }
}
