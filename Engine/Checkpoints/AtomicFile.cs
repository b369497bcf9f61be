namespace MeZO.Engine.Checkpoints;

/// <summary>
/// Replaces a file all at once: the content goes to a temporary file in the same folder (so the rename stays on one
/// file system and is atomic), is flushed to disk, and is then renamed over the destination. Model folders, safetensors
/// files and a run folder's run.json and state.json are all written this way.
/// </summary>
public static class AtomicFile
{
    /// <exception cref="IOException">anything failed; the message names <paramref name="path"/>, the inner exception is
    /// the cause. The destination is unchanged and the temporary file is gone.</exception>
    public static void Write(string path, Action<Stream> writeContent) => Write(path, writeContent, CreateNew);

    /// <summary><see cref="Write(string, Action{Stream})"/> with UTF-8 text (no byte order mark).</summary>
    public static void WriteAllText(string path, string contents) => Write(path, stream =>
    {
        using var writer = new StreamWriter(stream, leaveOpen: true);
        writer.Write(contents);
    });

    /// <summary>Creates the temporary file; tests substitute a stream that fails like a full disk.</summary>
    internal static FileStream CreateNew(string path) => new(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);

    internal static void Write(string path, Action<Stream> writeContent, Func<string, FileStream> createFile)
    {
        string temporary = Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.tmp-{Guid.NewGuid():N}");
        try
        {
            using (var stream = createFile(temporary))
            {
                writeContent(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e)
        {
            DeleteQuietly(temporary);
            throw new IOException($"{path}: writing failed, the file is unchanged ({e.Message.ReplaceLineEndings(" ")})", e);
        }
    }

    // Called while another exception propagates: that one is the error to report, so a failed clean-up stays silent
    // rather than hiding it.
    private static void DeleteQuietly(string temporary)
    {
        try
        {
            File.Delete(temporary);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
