using NUnit.Framework;

namespace MeZO.Tests.Common;

/// <summary>
/// Locates the read-only test data that sits beside the checkout (`../shared/data`). Searches upwards from the test
/// assembly so it works from any worktree; MEZO_SHARED_DATA overrides. A missing file fails the test, naming the path.
/// </summary>
public static class SharedData
{
    private static readonly Lazy<string?> RootDirectory = new(FindRoot);

    public static string Root => RootDirectory.Value
        ?? throw new AssertionException("../shared/data was not found above " + AppContext.BaseDirectory +
                                        " (set MEZO_SHARED_DATA to its path)");

    /// <summary>The absolute path of a file or folder under shared/data; fails the test when it is missing.</summary>
    public static string Path(string relative)
    {
        string full = System.IO.Path.Combine(Root, relative);
        if (!File.Exists(full) && !Directory.Exists(full))
            Assert.Fail($"test data missing: {full}");
        return full;
    }

    private static string? FindRoot()
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable("MEZO_SHARED_DATA");
        if (!string.IsNullOrEmpty(fromEnvironment)) return fromEnvironment;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = System.IO.Path.Combine(dir.FullName, "shared", "data");
            if (File.Exists(System.IO.Path.Combine(candidate, "README.md"))) return candidate;
        }
        return null;
    }
}
