namespace MeZO.Trainer.Runs;

/// <summary>Small files written to a temporary name in the same folder and renamed, so a crash leaves the old file or the new one.</summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string contents)
    {
        string temporary = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            using (var writer = new StreamWriter(stream))
            {
                writer.Write(contents);
                writer.Flush();
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}
