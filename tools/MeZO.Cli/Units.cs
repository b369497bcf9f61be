using MeZO.Engine;

namespace MeZO.Cli;

internal static class Units
{
    /// <summary>
    /// "engine tensors peak X, process peak RSS Y": the engine counts only its own tensors, which is not what the
    /// machine sees, so the process's figure stands beside it.
    /// </summary>
    public static string PeakMemory(long engineTensorBytes) =>
        $"engine tensors peak {Bytes(engineTensorBytes)}, process peak RSS " +
        (ProcessMemory.PeakResidentBytes() is long rss ? Bytes(rss) : "not reported by this OS");

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F1} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:F1} KiB",
        _ => $"{bytes} B",
    };

    public static string Count(long n) => n switch
    {
        >= 1_000_000_000 => $"{n / 1e9:F2}B",
        >= 1_000_000 => $"{n / 1e6:F2}M",
        >= 1_000 => $"{n / 1e3:F1}K",
        _ => n.ToString(),
    };
}
