using System.Diagnostics;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>What one `mezo` run printed and returned.</summary>
internal sealed record MezoResult(int ExitCode, string StandardOutput, string StandardError)
{
    /// <summary>The lines of stderr other than progress reports ("[loading] …", "[train] step …"), without empty ones.</summary>
    public string[] ErrorLines => MezoProcess.ErrorLines(StandardError);

    public override string ToString() => $"exit {ExitCode}\nstdout: {StandardOutput}\nstderr: {StandardError}";
}

/// <summary>
/// Runs the real command line, `dotnet mezo.dll ARGS`, as a child process: mezo.dll is built beside the tests by the
/// project reference. A run that has not finished within the timeout is killed and fails the test (a hang is a bug).
/// </summary>
internal static class Mezo
{
    /// <summary>Generous for a loaded two-core machine; every command here finishes in about a second.</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public static MezoResult Run(params string[] args)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "mezo.dll"));
        foreach (string arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start) ?? throw new AssertionException("could not start dotnet mezo.dll");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"mezo {string.Join(' ', args)} did not finish within {Timeout.TotalSeconds} s");
        }
        return new MezoResult(process.ExitCode, output.Result, error.Result);
    }

    /// <summary>The dotnet host running the tests (the SDK sets DOTNET_HOST_PATH), else dotnet from PATH.</summary>
    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}
