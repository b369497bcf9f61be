using System.Text;
using System.Text.Json;
using MeZO.Engine;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Runs;

/// <summary>trajectory.jsonl as DESIGN §4 defines its lines, read back by a JSON parser rather than by TrajectoryLog.</summary>
public class TrajectoryLogTests
{
    // A seed above 2⁶³ (negative as a long), and doubles with no short decimal form: the line must carry them exactly.
    private static readonly StepRecord Awkward = new(Step: 12_345_678_901, Sample: 3, Seed: ulong.MaxValue - 5,
        ProjectedGradient: -1.0 / 3, LearningRate: 1e-7 / 3, Eps: 1e-3, LossPlus: 0.1 + 0.2, LossMinus: double.Epsilon);

    [Test]
    public void ALineHoldsTheNineFieldsOfDesignExactly()
    {
        using var folder = new TemporaryFolder();
        using (var log = TrajectoryLog.OpenForAppend(folder.Path, keepBytes: 0)) log.Append(Awkward);

        string text = File.ReadAllText(Path.Combine(folder.Path, TrajectoryLog.FileName));
        Assert.That(text, Does.EndWith("\n").And.Not.Contains("\n\n"), "one line, newline-terminated");
        using var json = JsonDocument.Parse(text);
        var e = json.RootElement;
        Assert.That(e.EnumerateObject().Select(p => p.Name),
            Is.EqualTo(new[] { "step", "sample", "seed", "seed_str", "projected_grad", "lr", "eps", "loss_plus", "loss_minus" }));
        Assert.That(e.GetProperty("seed").GetRawText(), Is.EqualTo("18446744073709551610"), "seed: an unsigned 64-bit JSON integer");
        Assert.That(e.GetProperty("seed_str").GetRawText(), Is.EqualTo("\"18446744073709551610\""),
            "seed_str: the same seed as a string, exact for readers that parse numbers as doubles (2⁶⁴ − 6 is not one)");
        Assert.That(e.GetProperty("step").GetRawText(), Is.EqualTo("12345678901"));
        Assert.That(e.GetProperty("sample").GetRawText(), Is.EqualTo("3"));
        Assert.That(e.GetProperty("projected_grad").GetDouble(), Is.EqualTo(Awkward.ProjectedGradient));
        Assert.That(e.GetProperty("lr").GetDouble(), Is.EqualTo(Awkward.LearningRate));
        Assert.That(e.GetProperty("eps").GetDouble(), Is.EqualTo(Awkward.Eps));
        Assert.That(e.GetProperty("loss_plus").GetDouble(), Is.EqualTo(Awkward.LossPlus));
        Assert.That(e.GetProperty("loss_minus").GetDouble(), Is.EqualTo(Awkward.LossMinus));
    }

    [Test]
    public void APartialLastLineIsIgnoredAndOverwrittenOnAppend()
    {
        using var folder = new TemporaryFolder();
        string path = Path.Combine(folder.Path, TrajectoryLog.FileName);
        var second = Awkward with { Step = 1, Sample = 0 };
        using (var log = TrajectoryLog.OpenForAppend(folder.Path, 0)) log.Append(Awkward);
        long complete = new FileInfo(path).Length;
        File.AppendAllText(path, "{\"step\":1,\"sample\":0,\"se"); // a run killed while writing its next line

        var (records, bytes) = TrajectoryLog.Read(path);
        Assert.That(records, Is.EqualTo(new[] { Awkward }));
        Assert.That(bytes, Is.EqualTo(complete));

        using (var log = TrajectoryLog.OpenForAppend(folder.Path, bytes)) log.Append(second);
        Assert.That(TrajectoryLog.Read(path).Records, Is.EqualTo(new[] { Awkward, second }));
    }

    [Test]
    public void AMalformedCompleteLineIsAnErrorNamingTheFileAndLine()
    {
        using var folder = new TemporaryFolder();
        string path = Path.Combine(folder.Path, TrajectoryLog.FileName);
        using (var log = TrajectoryLog.OpenForAppend(folder.Path, 0)) log.Append(Awkward);
        File.AppendAllText(path, "{\"step\":1,\"sample\":0}\n", Encoding.UTF8);

        Assert.That(() => TrajectoryLog.Read(path),
            Throws.InstanceOf<InvalidInputException>().With.Message.StartsWith(path + ":2: not a trajectory line"));
    }

    /// <summary>Run folders written before seed_str existed replay and resume as they did.</summary>
    [Test]
    public void ALineWithoutSeedStrIsReadAsBefore()
    {
        using var folder = new TemporaryFolder();
        string path = Path.Combine(folder.Path, TrajectoryLog.FileName);
        using (var log = TrajectoryLog.OpenForAppend(folder.Path, 0)) log.Append(Awkward);
        string line = File.ReadAllText(path), old = line.Replace(",\"seed_str\":\"18446744073709551610\"", "");
        Assert.That(old, Is.Not.EqualTo(line), "the line as written before seed_str");
        File.WriteAllText(path, old);

        Assert.That(TrajectoryLog.Read(path).Records, Is.EqualTo(new[] { Awkward }));
    }

    [Test]
    public void ASeedStrThatDisagreesWithTheSeedIsAnError()
    {
        using var folder = new TemporaryFolder();
        string path = Path.Combine(folder.Path, TrajectoryLog.FileName);
        using (var log = TrajectoryLog.OpenForAppend(folder.Path, 0)) log.Append(Awkward);
        // The rounding a double-based reader makes, written back by it: the string keeps the seed, the integer lost it.
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"seed\":18446744073709551610", "\"seed\":18446744073709551615"));

        Assert.That(() => TrajectoryLog.Read(path),
            Throws.InstanceOf<InvalidInputException>().With.Message.StartsWith(path + ":1: not a trajectory line"));
    }
}
