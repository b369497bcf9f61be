using System.Reflection;

namespace MeZO.Engine.Backends.Cuda.Compilation;

/// <summary>
/// The CUDA sources embedded in MeZO.Engine (Kernels/*.cu and *.cuh, see MeZO.Engine.csproj): kernel files compile one
/// by one; headers are handed to NVRTC by name so `#include "philox.cuh"` resolves without touching the disk.
/// </summary>
internal static class KernelSources
{
    private const string Prefix = "Kernels/";
    private static readonly Lazy<IReadOnlyDictionary<string, string>> All = new(Read);

    /// <summary>Every embedded file by name ("attention.cu", "philox.cuh").</summary>
    public static IReadOnlyDictionary<string, string> Files => All.Value;

    /// <summary>The headers (*.cuh) by name, in ordinal order.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Headers =>
        All.Value.Where(f => f.Key.EndsWith(".cuh", StringComparison.Ordinal)).OrderBy(f => f.Key, StringComparer.Ordinal).ToArray();

    public static string Source(string fileName) =>
        All.Value.TryGetValue(fileName, out var text)
            ? text
            : throw new InvalidOperationException($"kernel file '{fileName}' is not embedded in MeZO.Engine (Kernels/ folder)");

    private static IReadOnlyDictionary<string, string> Read()
    {
        var assembly = typeof(KernelSources).Assembly;
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string resource in assembly.GetManifestResourceNames().Where(r => r.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidOperationException($"embedded resource '{resource}' cannot be opened");
            using var reader = new StreamReader(stream);
            files[resource[Prefix.Length..]] = reader.ReadToEnd();
        }
        return files;
    }
}
