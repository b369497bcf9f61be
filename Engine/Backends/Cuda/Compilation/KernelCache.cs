using System.Security.Cryptography;
using System.Text;

namespace MeZO.Engine.Backends.Cuda.Compilation;

/// <summary>
/// Compiled kernel images on disk, so NVRTC runs once per kernel source, option set and NVRTC version rather than at
/// every start. The key is the SHA-256 of all three (every header included, since any may be included); a changed
/// kernel, flag or compiler is a new key, never a stale hit. Files are written to a temporary name and renamed, so
/// a crash cannot leave half an image; a cache that cannot be written only costs the next start a compilation.
/// </summary>
internal sealed class KernelCache(string directory)
{
    /// <summary>Overrides the cache folder.</summary>
    public const string DirectoryVariable = "MEZO_KERNEL_CACHE";

    public string Directory { get; } = directory;

    /// <summary>$MEZO_KERNEL_CACHE, else $XDG_CACHE_HOME/mezo/kernels, else ~/.cache/mezo/kernels.</summary>
    public static string DefaultDirectory()
    {
        if (Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } explicitFolder) return explicitFolder;
        string cacheHome = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(cacheHome, "mezo", "kernels");
    }

    /// <summary>The cache key of one compilation.</summary>
    public static string Key(KernelFile file, GpuArchitecture target, IReadOnlyList<string> options, string nvrtcVersion)
    {
        var text = new StringBuilder();
        text.Append("nvrtc ").Append(nvrtcVersion).Append('\n');
        text.Append("target ").Append(target.Option).Append('\n');
        foreach (string option in options) text.Append("option ").Append(option).Append('\n');
        text.Append("file ").Append(file.Name).Append('\n').Append(KernelSources.Source(file.Name)).Append('\n');
        foreach (var (name, source) in KernelSources.Headers) text.Append("header ").Append(name).Append('\n').Append(source).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    public string PathOf(KernelFile file, GpuArchitecture target, string key) =>
        Path.Combine(Directory, $"{Path.GetFileNameWithoutExtension(file.Name)}-{target.Option}-{key[..16]}{(target.MachineCode ? ".cubin" : ".ptx")}");

    public byte[]? TryRead(KernelFile file, GpuArchitecture target, string key)
    {
        try
        {
            string path = PathOf(file, target, key);
            return File.Exists(path) ? File.ReadAllBytes(path) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // an unreadable cache entry is compiled again
        }
    }

    public void Write(KernelFile file, GpuArchitecture target, string key, byte[] image)
    {
        string path = PathOf(file, target, key);
        string temporary = $"{path}.{Environment.ProcessId}.tmp";
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            File.WriteAllBytes(temporary, image);
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only or full cache only means compiling again next time; nothing is half-written.
            try { File.Delete(temporary); } catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException) { }
        }
    }

    /// <summary>Drops an entry the driver refused to load (written by another driver, or damaged).</summary>
    public void Remove(KernelFile file, GpuArchitecture target, string key)
    {
        try
        {
            File.Delete(PathOf(file, target, key));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the next compilation overwrites it anyway
        }
    }
}
