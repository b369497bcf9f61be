using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MeZO.Engine.Backends.Cuda.Compilation;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda;

/// <summary>
/// Builds host C++ against the embedded kernel headers with g++ into a shared library, once per test run and source,
/// and loads it. The headers are written out from MeZO.Engine's resources, so the tests compile exactly what the
/// GPU gets. Where g++ is missing, the tests that need it are ignored, naming it.
/// </summary>
internal static class HostCompiler
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, nint> Libraries = [];
    private static string? _kernelFolder;

    /// <summary>The folder holding this test source file (and the C++ files beside it).</summary>
    public static string SourceFolder([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    /// <summary>Every embedded Kernels/ file written to a temporary folder (once per run).</summary>
    public static string KernelFolder()
    {
        lock (Gate)
        {
            if (_kernelFolder is not null) return _kernelFolder;
            string folder = Path.Combine(Path.GetTempPath(), $"mezo-kernels-{Environment.ProcessId}");
            Directory.CreateDirectory(folder);
            foreach (var (name, text) in KernelSources.Files) File.WriteAllText(Path.Combine(folder, name), text);
            return _kernelFolder = folder;
        }
    }

    /// <summary>
    /// Compiles <paramref name="sources"/> into one shared library and loads it; the same name is built once per run.
    /// Float contraction is off (-ffp-contract=off): a*b+c stays two roundings, as on the GPU with --fmad=false.
    /// </summary>
    public static nint Build(string name, IReadOnlyList<string> sources, params string[] extraOptions)
    {
        lock (Gate)
        {
            if (Libraries.TryGetValue(name, out nint known)) return known;
            string? gpp = FindCompiler();
            if (gpp is null) Assert.Ignore("g++ is not installed: the host build of the kernel code cannot be tested");
            string output = Path.Combine(Path.GetTempPath(), $"lib{name}-{Environment.ProcessId}.so");
            var arguments = new List<string> { "-std=c++17", "-O2", "-ffp-contract=off", "-fPIC", "-shared", "-pthread", "-Wall", "-Wextra",
                "-Werror", "-Wno-unused-function", "-I", KernelFolder(), "-o", output };
            arguments.AddRange(extraOptions);
            arguments.AddRange(sources);
            var start = new ProcessStartInfo(gpp!) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (string a in arguments) start.ArgumentList.Add(a);
            using var process = Process.Start(start)!;
            string errors = process.StandardError.ReadToEnd();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0) throw new InvalidOperationException($"g++ failed to build {name}:\n{errors}");
            nint handle = NativeLibrary.Load(output);
            File.Delete(output); // the loaded mapping outlives the name
            Libraries[name] = handle;
            return handle;
        }
    }

    /// <summary>Deletes the kernel sources written for this run (at its end).</summary>
    public static void DeleteKernelFolder()
    {
        lock (Gate)
        {
            if (_kernelFolder is not null && Directory.Exists(_kernelFolder)) Directory.Delete(_kernelFolder, recursive: true);
            _kernelFolder = null;
        }
    }

    /// <summary>g++ on the PATH, or null.</summary>
    internal static string? FindCompiler() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, "g++")).FirstOrDefault(File.Exists);
}
