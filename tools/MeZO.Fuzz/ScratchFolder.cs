namespace MeZO.Fuzz;

/// <summary>
/// A private folder under the system's temporary directory for the files a target writes: the readers take paths, so
/// every input goes through a file. One folder serves a whole fuzzing process and is emptied before each input, so
/// nothing one input wrote is seen by the next.
/// </summary>
public sealed class ScratchFolder : IDisposable
{
    public ScratchFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mezo-fuzz-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>Deletes everything a previous input left.</summary>
    public void Clear()
    {
        foreach (string entry in Directory.EnumerateFileSystemEntries(Path))
        {
            if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
            else File.Delete(entry);
        }
    }

    public string Write(string name, ReadOnlySpan<byte> bytes)
    {
        string path = System.IO.Path.Combine(Path, name);
        using var file = File.Create(path);
        file.Write(bytes);
        return path;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
