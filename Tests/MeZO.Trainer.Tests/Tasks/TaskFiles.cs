using System.Text.RegularExpressions;
using MeZO.Tests.Common;

namespace MeZO.Trainer.Tests.Tasks;

/// <summary>Locates the real task files and counts their examples independently of the loaders (lines, or key occurrences).</summary>
internal static class TaskFiles
{
    public static string Folder(string relative) => SharedData.Path(Path.Combine("tasks", relative));

    public static string File(string folder, string name) => SharedData.Path(Path.Combine("tasks", folder, name));

    /// <summary>Lines with any non-whitespace character.</summary>
    public static int NonBlankLines(string path) => System.IO.File.ReadLines(path).Count(line => line.Trim().Length > 0);

    /// <summary>How often "key": appears as a JSON key. Inside a JSON string a quote is escaped, so the pattern can only
    /// match a key: this counts MultiRC's answers (their "label") or ReCoRD's queries (their "query").</summary>
    public static int KeyOccurrences(string path, string key) =>
        Regex.Count(System.IO.File.ReadAllText(path), "\"" + Regex.Escape(key) + "\"\\s*:");
}
