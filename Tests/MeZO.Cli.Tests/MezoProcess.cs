using System.Diagnostics;
using System.Text;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// A running `dotnet mezo.dll ARGS` (mezo.dll is built beside the tests), which a test can wait for or kill for real
/// (SIGKILL: no finally block, no flush, no cleanup runs — what kill -9 or a power cut does to the process).
/// </summary>
internal sealed class MezoProcess : IDisposable
{
    /// <summary>Generous for a loaded two-core machine and a Debug build; a run that takes longer is a hang and fails.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    private readonly Process _process;
    private readonly StringBuilder _output = new(), _error = new();
    private readonly string _commandLine;

    private MezoProcess(Process process, string commandLine)
    {
        _process = process;
        _commandLine = commandLine;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_error) _error.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>Starts mezo; <paramref name="shell"/> (a bash prefix such as "ulimit -f 64;") runs before it when given.</summary>
    /// <param name="exec">whether the prefix is followed by exec (false: the prefix ends in a launcher that runs the command)</param>
    public static MezoProcess Start(IEnumerable<string> args, string? shell = null, bool exec = true)
    {
        string mezo = Path.Combine(AppContext.BaseDirectory, "mezo.dll");
        ProcessStartInfo start;
        if (shell is null)
        {
            // env execs dotnet in place (the same process id) with SIGINT and SIGTERM at their defaults, as a terminal
            // gives them: a test runner started as a background job passes SIGINT on ignored, and .NET keeps it ignored.
            start = new ProcessStartInfo("env");
            foreach (string arg in (string[])["--default-signal=INT,TERM", DotnetHost(), mezo, .. args]) start.ArgumentList.Add(arg);
        }
        else
        {
            // bash -c 'PREFIX exec "$0" "$@"' dotnet mezo.dll ARGS: the arguments are passed through untouched.
            start = new ProcessStartInfo("bash");
            foreach (string arg in (string[])["-c", shell + (exec ? " exec" : "") + " \"$0\" \"$@\"", DotnetHost(), mezo, .. args])
                start.ArgumentList.Add(arg);
        }
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        string commandLine = "mezo " + string.Join(' ', args);
        var process = Process.Start(start) ?? throw new AssertionException("could not start " + commandLine);
        return new MezoProcess(process, commandLine);
    }

    /// <summary>
    /// Starts mezo as the <paramref name="ranks"/> processes of an Open MPI job: `mpirun --oversubscribe -np N dotnet
    /// mezo.dll ARGS` (more ranks than cores on a small machine; allowed as root, as CI may run). The process is mpirun's.
    /// </summary>
    public static MezoProcess StartUnderMpirun(int ranks, IEnumerable<string> args) =>
        Start(args, shell: "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1; " +
                           $"exec mpirun --oversubscribe -np {ranks}", exec: false);

    /// <summary>Runs mezo to the end.</summary>
    public static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        using var mezo = Start(args);
        return mezo.WaitForExit();
    }

    /// <summary>The lines of stderr other than progress reports ("[###...] step 10/30 ...", written every few seconds).</summary>
    public static string[] ErrorLines(string error) =>
        error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => !l.StartsWith('[')).ToArray();

    /// <summary>DESIGN §5's contract for a mistake: exit code 1 and one line on stderr, holding the fragment, no stack trace.</summary>
    public static void AssertOneLineError((int ExitCode, string Output, string Error) result, string fragment)
    {
        Assert.That(result.ExitCode, Is.EqualTo(1), result.Output + result.Error);
        string[] lines = ErrorLines(result.Error);
        Assert.That(lines, Has.Length.EqualTo(1), "one line on stderr: " + result.Error);
        Assert.That(lines[0], Does.Contain(fragment));
        Assert.That(lines[0], Does.Not.Contain(" at MeZO."), "no stack trace");
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The process id: mezo.dll runs inside the dotnet host, so this is the id mezo itself sees.</summary>
    public int Id => _process.Id;

    /// <summary>Polls (every millisecond) until <paramref name="condition"/> holds; fails if the process ends first or it never does.</summary>
    public void WaitUntil(Func<bool> condition, string moment)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (_process.HasExited)
            {
                var (code, output, error) = WaitForExit();
                Assert.Fail($"{_commandLine} ended (exit {code}) before {moment}\n{output}\n{error}");
            }
            if (clock.Elapsed > Timeout) Assert.Fail($"{_commandLine}: {moment} did not come within {Timeout.TotalSeconds} s");
            Thread.Sleep(1);
        }
    }

    /// <summary>Sends a signal for real, as a terminal's Ctrl+C (INT) or a service manager's stop (TERM) does.</summary>
    public void Signal(string name)
    {
        using var kill = Process.Start("kill", ["-s", name, Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.That(kill.ExitCode, Is.EqualTo(0), $"kill -s {name} {Id}");
    }

    public (int ExitCode, string Output, string Error) WaitForExit()
    {
        if (!_process.WaitForExit(Timeout))
        {
            _process.Kill(entireProcessTree: true);
            Assert.Fail($"{_commandLine} did not finish within {Timeout.TotalSeconds} s");
        }
        _process.WaitForExit(); // drains the asynchronous output readers
        lock (_output) lock (_error) return (_process.ExitCode, _output.ToString(), _error.ToString());
    }

    /// <summary>Waits until <paramref name="condition"/> holds, then kills the process at once.</summary>
    public void KillWhen(Func<bool> condition, string moment)
    {
        WaitUntil(condition, moment);
        _process.Kill();
        _process.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }

    /// <summary>The dotnet host running the tests (the SDK sets DOTNET_HOST_PATH), else dotnet from PATH.</summary>
    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}
