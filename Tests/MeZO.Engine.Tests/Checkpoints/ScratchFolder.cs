namespace MeZO.Engine.Tests.Checkpoints;

/// <summary>A fresh folder under the system's temporary directory, deleted on dispose, for files a test writes.</summary>
internal sealed class ScratchFolder : IDisposable
{
    public ScratchFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mezo-checkpoints-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string WriteBytes(string name, byte[] content)
    {
        string path = File(name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllBytes(path, content);
        return path;
    }

    public string WriteText(string name, string content) => WriteBytes(name, System.Text.Encoding.UTF8.GetBytes(content));

    /// <summary>Every file and folder below the scratch folder, relative and sorted: what a failed write must leave as it was.</summary>
    public string[] Listing() => Directory.EnumerateFileSystemEntries(Path, "*", SearchOption.AllDirectories)
        .Select(p => System.IO.Path.GetRelativePath(Path, p)).Order(StringComparer.Ordinal).ToArray();

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
