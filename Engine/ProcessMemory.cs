using System.Globalization;

namespace MeZO.Engine;

/// <summary>
/// What the operating system charged the whole process: the runtime, file mappings and native buffers besides the
/// engine's tensors, which is the figure a user compares with the machine's memory. One reading, used wherever peak
/// memory is reported beside the engine's own count.
/// </summary>
public static class ProcessMemory
{
    /// <summary>The peak resident set size in bytes (VmHWM of /proc/self/status); null where the OS does not report it.</summary>
    public static long? PeakResidentBytes() => Kilobytes("/proc/self/status", "VmHWM:");

    /// <summary>
    /// Memory the machine can give without swapping (MemAvailable of /proc/meminfo), what a new allocation of host
    /// memory must fit in; null where the OS does not report it.
    /// </summary>
    public static long? AvailableBytes() => Kilobytes("/proc/meminfo", "MemAvailable:");

    /// <summary>A "Key:   12345 kB" line's value in bytes.</summary>
    private static long? Kilobytes(string file, string key)
    {
        if (!OperatingSystem.IsLinux()) return null;
        foreach (string line in File.ReadLines(file))
            if (line.StartsWith(key, StringComparison.Ordinal))
                return long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        return null;
    }

    /// <summary>
    /// Resets the peak resident set size to the current one (writes 5 to /proc/self/clear_refs), so the next
    /// <see cref="PeakResidentBytes"/> is the peak of what runs in between; false where the OS does not allow it.
    /// </summary>
    public static bool ResetPeakResident()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
