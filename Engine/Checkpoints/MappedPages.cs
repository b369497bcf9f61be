using System.Runtime.InteropServices;

namespace MeZO.Engine.Checkpoints;

/// <summary>
/// Takes pages of a read-only file mapping out of the process's resident memory. On Linux this is
/// madvise(MADV_DONTNEED): for a read-only file mapping it only drops the page-table entries — the bytes stay in the
/// file and the page cache, and a later read maps them back — so it can never change what is read. Elsewhere it does
/// nothing (the mapping's pages then count until the file is closed).
/// </summary>
internal static unsafe partial class MappedPages
{
    private const int MadviseDontNeed = 4;

    /// <summary>Releases every page that overlaps [start, start + length); the neighbours' bytes in those pages simply fault back in.</summary>
    public static void Release(byte* start, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0) return;
        long page = Environment.SystemPageSize;
        long first = (long)start / page * page;
        long end = ((long)start + length + page - 1) / page * page;
        if (Madvise((nint)first, (nuint)(end - first), MadviseDontNeed) != 0)
            throw new InvalidOperationException(
                $"madvise(0x{first:X}, {end - first}, MADV_DONTNEED) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint address, nuint length, int advice);
}
