using System.Text.RegularExpressions;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// The metrics of the official SQuAD v1.1 evaluation script, which MeZO uses for SQuAD and DROP: answers are normalised
/// (lower-cased; ASCII punctuation removed; the words a, an, the removed; whitespace collapsed), exact match compares the
/// normalised strings and F1 their bags of words; an example's score is the maximum over its gold answers.
/// </summary>
public static partial class SquadMetrics
{
    /// <summary>SQuAD's normalize_answer: lower(), drop string.punctuation, replace \b(a|an|the)\b by a space, split/join.</summary>
    public static string Normalize(string text)
    {
        string lower = PythonText.Lower(text);
        var withoutPunctuation = new System.Text.StringBuilder(lower.Length);
        foreach (char c in lower)
            if (!IsAsciiPunctuation(c)) withoutPunctuation.Append(c);
        string withoutArticles = Articles().Replace(withoutPunctuation.ToString(), " ");
        return string.Join(' ', PythonText.Split(withoutArticles));
    }

    /// <summary>1 when the normalised prediction equals some normalised gold answer, else 0.</summary>
    public static double ExactMatch(string prediction, IReadOnlyList<string> goldAnswers) =>
        MaxOverGold(prediction, goldAnswers, ExactMatch);

    public static double ExactMatch(string prediction, string goldAnswer) =>
        Normalize(prediction) == Normalize(goldAnswer) ? 1.0 : 0.0;

    /// <summary>Token F1 against the best-matching gold answer.</summary>
    public static double F1(string prediction, IReadOnlyList<string> goldAnswers) =>
        MaxOverGold(prediction, goldAnswers, F1);

    /// <summary>Token F1: the harmonic mean of precision and recall of the normalised words, counted with multiplicity;
    /// 0 when no word is shared (also when either side normalises to nothing).</summary>
    public static double F1(string prediction, string goldAnswer)
    {
        string[] predicted = Normalize(prediction).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string[] gold = Normalize(goldAnswer).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var goldCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string word in gold) goldCounts[word] = goldCounts.GetValueOrDefault(word) + 1;
        int shared = 0;
        foreach (string word in predicted)
        {
            if (goldCounts.GetValueOrDefault(word) > 0)
            {
                goldCounts[word]--;
                shared++;
            }
        }
        if (shared == 0) return 0.0;
        double precision = (double)shared / predicted.Length;
        double recall = (double)shared / gold.Length;
        return 2 * precision * recall / (precision + recall);
    }

    private static double MaxOverGold(string prediction, IReadOnlyList<string> goldAnswers, Func<string, string, double> metric)
    {
        if (goldAnswers.Count == 0)
            throw new ArgumentException("a SQuAD metric needs at least one gold answer", nameof(goldAnswers));
        double best = 0;
        foreach (string gold in goldAnswers) best = Math.Max(best, metric(prediction, gold));
        return best;
    }

    /// <summary>Python's string.punctuation: !"#$%&amp;'()*+,-./:;&lt;=&gt;?@[\]^_`{|}~</summary>
    private static bool IsAsciiPunctuation(char c) =>
        c is (>= '!' and <= '/') or (>= ':' and <= '@') or (>= '[' and <= '`') or (>= '{' and <= '~');

    // Python's \b separates a word character (str.isalnum() or '_': letters and numbers of any script) from anything else;
    // .NET's \w would also count combining marks, so the boundary is spelled out.
    [GeneratedRegex(@"(?<![\p{L}\p{N}_])(?:a|an|the)(?![\p{L}\p{N}_])", RegexOptions.CultureInvariant)]
    private static partial Regex Articles();
}
