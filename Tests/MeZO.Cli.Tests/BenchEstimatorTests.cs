using System.Text.Json;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>`mezo bench estimator`: the table of |g − z·∇L|/|z·∇L| per ε, in both storage dtypes, and its --json.</summary>
[TestFixture]
public sealed class BenchEstimatorTests
{
    /// <summary>
    /// Every seed's z·∇L and g come out, each ε's median is the median of those, and the estimate does what it must on
    /// a smooth model: good to 1e-2 at some ε in both dtypes (the engine's tests hold it far tighter), and worse at
    /// ε = 1e-1, where the step leaves the quadratic regime.
    /// </summary>
    [Test]
    public void JsonHoldsEverySeedAndTheMediansOfTheirErrors()
    {
        var result = Mezo.Run("bench", "estimator", "--model", SharedData.Path("models/stories260K"), "--seeds", "3", "--batch", "2",
            "--length", "16", "--json");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.StandardOutput);
        var root = json.RootElement;
        Assert.That(root.GetProperty("seeds").EnumerateArray().Select(s => s.GetUInt64()), Is.EqualTo(new ulong[] { 1, 2, 3 }));
        double[] eps = [.. root.GetProperty("eps").EnumerateArray().Select(e => e.GetDouble())];
        Assert.That(eps, Is.Ordered.Descending.And.Contains(1e-1).And.Contains(1e-3));
        var storages = root.GetProperty("storage").EnumerateArray().ToArray();
        Assert.That(storages.Select(s => s.GetProperty("dtype").GetString()), Is.EqualTo(new[] { "f32", "bf16" }));
        foreach (var storage in storages)
        {
            string dtype = storage.GetProperty("dtype").GetString()!;
            double[] d = [.. storage.GetProperty("directional_derivatives").EnumerateArray().Select(x => x.GetDouble())];
            var g = storage.GetProperty("projected_gradients").EnumerateArray().ToArray();
            double[] medians = [.. storage.GetProperty("median_relative_error").EnumerateArray().Select(x => x.GetDouble())];
            Assert.That(d, Has.Length.EqualTo(3), dtype);
            Assert.That(g, Has.Length.EqualTo(eps.Length), dtype);
            for (int e = 0; e < eps.Length; e++)
            {
                double[] errors = [.. g[e].EnumerateArray().Select((x, s) => Math.Abs(x.GetDouble() - d[s]) / Math.Abs(d[s])).Order()];
                Assert.That(medians[e], Is.EqualTo(errors[1]), $"{dtype}, ε {eps[e]}");
            }
            Assert.That(medians.Min(), Is.LessThan(1e-2), dtype);
            Assert.That(medians[Array.IndexOf(eps, 1e-3)], Is.LessThan(medians[Array.IndexOf(eps, 1e-1)]), dtype);
        }
    }

    [Test]
    public void TableHasARowPerEpsilonAndAColumnPerDtype()
    {
        var result = Mezo.Run("bench", "estimator", "--model", SharedData.Path("models/tiny-random-gpt2"), "--seeds", "1", "--batch", "1",
            "--length", "8", "--dtype", "bf16");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var lines = result.StandardOutput.Split('\n');
        Assert.That(lines.Where(l => l.TrimStart().StartsWith("ε", StringComparison.Ordinal)).Single().Split(' ', StringSplitOptions.RemoveEmptyEntries),
            Is.EqualTo(new[] { "ε", "BF16" }));
        Assert.That(lines.Count(l => l.TrimStart().StartsWith("1e-", StringComparison.Ordinal)), Is.EqualTo(6), result.StandardOutput);
    }
}
