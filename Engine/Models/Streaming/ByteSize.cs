using System.Globalization;

namespace MeZO.Engine.Models.Streaming;

/// <summary>Byte counts as people write them: 1073741824, 512MiB, 2GiB, 1.5GB (SI), with or without a space.</summary>
public static class ByteSize
{
    private static readonly (string Suffix, long Factor)[] Suffixes =
    [
        ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("TiB", 1L << 40),
        ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
        ("K", 1L << 10), ("M", 1L << 20), ("G", 1L << 30), ("T", 1L << 40), ("B", 1),
    ];

    /// <exception cref="InvalidInputException">the text is not a positive size; <paramref name="what"/> names it.</exception>
    public static long Parse(string text, string what)
    {
        string trimmed = text.Trim();
        long factor = 1;
        foreach (var (suffix, f) in Suffixes)
            if (trimmed.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                trimmed = trimmed[..^suffix.Length].TrimEnd();
                factor = f;
                break;
            }
        if (!double.TryParse(trimmed, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value)
            || value * factor is not (>= 1 and < long.MaxValue))
            throw new InvalidInputException(
                $"{what} '{text}' is not a size in bytes (write a positive number of bytes, or one with a suffix: 512MiB, 2GiB, 1.5GB)");
        return (long)(value * factor);
    }

    /// <summary>MiB or GiB with two decimals: the unit budgets and needs are compared in.</summary>
    public static string Format(long bytes) =>
        bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):F2} GiB" : $"{bytes / (double)(1L << 20):F2} MiB";
}
