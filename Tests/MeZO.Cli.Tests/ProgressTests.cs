using System.Diagnostics;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// Progress through the real command line with stderr redirected (plain lines, as in a log): loading, every validation
/// and test pass and the steps each report, and the steps' line carries an ETA (its arithmetic, which leaves loading
/// and evaluation out, is EtaClockTests').
/// </summary>
public class ProgressTests
{
    [Test]
    public void TrainAndEvalReportLoadingEvaluationAndSteps()
    {
        string root = Path.Combine(Path.GetTempPath(), "mezo-progress-" + Guid.NewGuid().ToString("N"));
        try
        {
            var train = Mezo.Run("train", "--out", Path.Combine(root, "run"), "--steps", "40", "--eval-every", "20", "--log-every", "10",
                "--train-examples", "64", "--eval-examples", "16", "--test-examples", "16");
            Assert.That(train.ExitCode, Is.Zero, train.ToString());
            string[] lines = train.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(lines, Has.Some.Match(@"^\[loading\] [0-9.]+/[0-9.]+ MiB$"));
            Assert.That(lines.Count(l => l == "[validation] 16/16"), Is.EqualTo(3), "before training, at step 20 and at step 40");
            Assert.That(lines.Count(l => l == "[test] 16/16"), Is.EqualTo(2), "before and after training");
            Assert.That(lines, Has.Some.Match(@"^\[train\] step 40/40  loss [0-9.]+  [0-9.]+ ex/s  ETA 00:00:00$"));

            var eval = Mezo.Run("eval", "--model", SharedData.Path("models/stories260K"), "--task", "sst2", "--data", SharedData.Path("tasks/SST-2"),
                "--test-examples", "40", "--batch-size", "8");
            Assert.That(eval.ExitCode, Is.Zero, eval.ToString());
            Assert.That(eval.StandardError, Does.Contain("[test] 40/40").And.Contain("[loading]"));
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>
    /// On a terminal (a pseudo-terminal from util-linux's script(1)) the live display draws bars with ANSI escapes: the
    /// loading bar, the steps with their ETA, and the run's log lines printed above them, then its summary.
    /// </summary>
    [Test]
    public void OnATerminalTheLiveDisplayDrawsTheBarsAndKeepsTheLog()
    {
        if (!File.Exists("/usr/bin/script")) Assert.Ignore("util-linux's script(1) is not installed: no pseudo-terminal to run mezo on");
        string root = Path.Combine(Path.GetTempPath(), "mezo-progress-tty-" + Guid.NewGuid().ToString("N"));
        try
        {
            string mezo = $"dotnet '{Path.Combine(AppContext.BaseDirectory, "mezo.dll")}' train --out '{Path.Combine(root, "run")}' --steps 200 " +
                          "--eval-every 100 --log-every 10 --train-examples 64 --eval-examples 16 --test-examples 16";
            var start = new ProcessStartInfo("/usr/bin/script") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string arg in (string[])["-qec", mezo, "/dev/null"]) start.ArgumentList.Add(arg);
            using var process = Process.Start(start)!;
            string screen = process.StandardOutput.ReadToEnd();
            Assert.That(process.WaitForExit(MezoProcess.Timeout), Is.True, "mezo under script(1) hung");
            Assert.That(process.ExitCode, Is.Zero, screen);
            Assert.That(screen, Does.Contain("\u001b["), "ANSI escapes: the live display, not plain lines");
            Assert.That(screen, Does.Match(@"loading [0-9.]+/[0-9.]+ MiB"));
            Assert.That(screen, Does.Match(@"step [0-9]+/200  loss [0-9.]+  [0-9.]+ ex/s  ETA 00:00:[0-9]{2}"));
            Assert.That(screen, Does.Contain("step 100: validation accuracy").And.Contain("trained 200 steps"));
            Assert.That(screen, Does.Not.Contain("[train]"), "no plain progress lines on a terminal");
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }
}
