using System.Text;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// The few Python string operations that MeZO's templates and the Hugging Face loaders apply, with Python's semantics
/// where .NET's differ: whitespace is what str.isspace() accepts (it includes U+001C–U+001F, which char.IsWhiteSpace
/// does not); indices and ordering are by code point (Python strings are sequences of code points, .NET strings of
/// UTF-16 units). Case mapping uses .NET's invariant simple mapping, which differs from Python's full mapping only for the
/// handful of characters that lower- or upper-case to several (İ, ß, ligatures).
/// </summary>
internal static class PythonText
{
    public static bool IsSpace(char c) =>
        c is (>= '\t' and <= '\r') or (>= '\u001C' and <= ' ') or '\u0085' or '\u00A0' or '\u1680'
            or (>= '\u2000' and <= '\u200A') or '\u2028' or '\u2029' or '\u202F' or '\u205F' or '\u3000';

    /// <summary>str.strip()</summary>
    public static string Strip(string s) => RStrip(LStrip(s));

    /// <summary>str.lstrip()</summary>
    public static string LStrip(string s)
    {
        int start = 0;
        while (start < s.Length && IsSpace(s[start])) start++;
        return s[start..];
    }

    /// <summary>str.rstrip()</summary>
    public static string RStrip(string s)
    {
        int end = s.Length;
        while (end > 0 && IsSpace(s[end - 1])) end--;
        return s[..end];
    }

    /// <summary>str.split() with no separator: runs of whitespace separate, no empty parts.</summary>
    public static List<string> Split(string s)
    {
        var parts = new List<string>();
        int i = 0;
        while (i < s.Length)
        {
            while (i < s.Length && IsSpace(s[i])) i++;
            int start = i;
            while (i < s.Length && !IsSpace(s[i])) i++;
            if (i > start) parts.Add(s[start..i]);
        }
        return parts;
    }

    public static string Lower(string s) => s.ToLowerInvariant();

    /// <summary>s[start:end] with Python's code-point indices (clamped to the string, as slicing is).</summary>
    public static string Slice(string s, int start, int end)
    {
        if (!HasSurrogates(s))
        {
            start = Math.Clamp(start, 0, s.Length);
            end = Math.Clamp(end, start, s.Length);
            return s[start..end];
        }
        var builder = new StringBuilder();
        int index = 0;
        foreach (Rune rune in s.EnumerateRunes())
        {
            if (index >= start && index < end) builder.Append(rune.ToString());
            index++;
        }
        return builder.ToString();
    }

    /// <summary>Python's ordering of str (code point by code point), which sorted() uses.</summary>
    public static int CompareCodePoints(string? a, string? b)
    {
        if (a is null || b is null) return string.CompareOrdinal(a, b);
        StringRuneEnumerator left = a.EnumerateRunes().GetEnumerator();
        StringRuneEnumerator right = b.EnumerateRunes().GetEnumerator();
        while (true)
        {
            bool hasLeft = left.MoveNext(), hasRight = right.MoveNext();
            if (!hasLeft || !hasRight) return hasLeft.CompareTo(hasRight);
            int order = left.Current.Value.CompareTo(right.Current.Value);
            if (order != 0) return order;
        }
    }

    public static readonly IComparer<string> CodePointOrder = Comparer<string>.Create(CompareCodePoints);

    private static bool HasSurrogates(string s)
    {
        foreach (char c in s)
            if (char.IsSurrogate(c)) return true;
        return false;
    }
}
