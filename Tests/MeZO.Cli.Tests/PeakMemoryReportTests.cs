using System.Text.RegularExpressions;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// The memory figure after eval says what it counts: the engine's tensors, and beside it the process's peak RSS,
/// which (the runtime and the weights included) must exceed the tensors and the 1 MB of stories260K's weights.
/// </summary>
[TestFixture]
public sealed partial class PeakMemoryReportTests
{
    [Test]
    public void EvalReportsEngineTensorsAndProcessPeakRss()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("the process peak RSS is read from /proc/self/status, which only Linux has");
        var result = Mezo.Run("eval", "--model", SharedData.Path("models/stories260K"), "--task", "sst2", "--data", SharedData.Path("tasks/SST-2"),
            "--test-examples", "4", "--batch-size", "2");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var match = PeakLine().Match(result.StandardOutput);
        Assert.That(match.Success, Is.True, result.ToString());
        double tensors = MiB(match.Groups[1].Value, match.Groups[2].Value), rss = MiB(match.Groups[3].Value, match.Groups[4].Value);
        Assert.That(rss, Is.GreaterThan(tensors), "the process holds the tensors and more");
        Assert.That(rss, Is.GreaterThan(1.0), "at least the weights");
    }

    private static double MiB(string number, string unit) =>
        double.Parse(number, System.Globalization.CultureInfo.InvariantCulture) * unit switch { "GiB" => 1024, "MiB" => 1, "KiB" => 1.0 / 1024, _ => 1.0 / (1 << 20) };

    [GeneratedRegex(@"engine tensors peak ([\d.]+) (GiB|MiB|KiB|B), process peak RSS ([\d.]+) (GiB|MiB|KiB|B)")]
    private static partial Regex PeakLine();
}
