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
    public static long? PeakResidentBytes()
    {
        if (!OperatingSystem.IsLinux()) return null;
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            // "VmHWM:     12345 kB"
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        return null;
    }
}
