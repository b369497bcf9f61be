using System.Diagnostics;
using System.Globalization;
using MeZO.Engine;
using MeZO.Engine.Checkpoints;

namespace MeZO.Trainer.Runs;

/// <summary>
/// One process owns a run folder while it trains: an exclusive OS lock on RUN/.lock (flock on Linux and macOS, a
/// share-mode lock on Windows), which the kernel drops when the process ends however it ends, so a kill -9 never leaves
/// a stale lock behind. Two runs started at the same instant race for one kernel lock: exactly one gets it. The lock
/// file is never deleted (a process that opened the old file would lock an unlinked inode while a third locks a new
/// one); the holder's process id goes into RUN/.owner so the loser can say who holds the folder.
/// </summary>
public sealed class RunFolderLock : IDisposable
{
    public const string LockFileName = ".lock", OwnerFileName = ".owner";

    private readonly FileStream _lock;
    private readonly string _owner;

    private RunFolderLock(FileStream lockFile, string ownerFile)
    {
        _lock = lockFile;
        _owner = ownerFile;
    }

    /// <summary>Creates the folder when needed and locks it; throws, naming the holder, when another process has it.</summary>
    public static RunFolderLock Acquire(string runDirectory)
    {
        Directory.CreateDirectory(runDirectory);
        string lockPath = Path.Combine(runDirectory, LockFileName), ownerPath = Path.Combine(runDirectory, OwnerFileName);
        FileStream stream;
        try
        {
            stream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (IsHeldElsewhere(e))
        {
            throw new InvalidInputException($"{runDirectory} is in use by {Holder(ownerPath)}; wait for it to end, " +
                                            "or choose another --out");
        }
        using var self = Process.GetCurrentProcess();
        AtomicFile.WriteAllText(ownerPath, string.Create(CultureInfo.InvariantCulture,
            $"{Environment.ProcessId} {self.StartTime.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC\n"));
        return new RunFolderLock(stream, ownerPath);
    }

    /// <summary>
    /// The file is locked: on Unix .NET reports flock's EWOULDBLOCK as the HResult (11 on Linux, 35 on macOS), on
    /// Windows a sharing or lock violation (Win32 error 32 or 33).
    /// </summary>
    private static bool IsHeldElsewhere(IOException e) =>
        OperatingSystem.IsWindows() ? (e.HResult & 0xFFFF) is 32 or 33 : e.HResult == (OperatingSystem.IsMacOS() ? 35 : 11);

    /// <summary>"process 1234 (started 2026-12-06 02:18:16 UTC)", or "another process" while .owner is not yet written.</summary>
    private static string Holder(string ownerPath)
    {
        string[] fields;
        try
        {
            fields = File.ReadAllText(ownerPath).TrimEnd().Split(' ', 2);
        }
        catch (IOException)
        {
            return "another process";
        }
        return fields.Length == 2 && int.TryParse(fields[0], CultureInfo.InvariantCulture, out int pid)
            ? $"process {pid} (started {fields[1]})"
            : "another process";
    }

    public void Dispose()
    {
        File.Delete(_owner);
        _lock.Dispose();
    }
}
