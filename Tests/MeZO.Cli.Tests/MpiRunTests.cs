using System.Globalization;
using MeZO.Tests.Common;
using MeZO.Trainer.Runs;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// `mpirun -np N mezo train` as real Open MPI jobs of N processes (oversubscribed on a two-core machine): 1, 2 and 3
/// ranks write the same run folder bit for bit, whichever way they share the work, and `mpirun mezo eval` reports
/// once what one process does; a rank killed with SIGKILL ends the job with a message; the run then resumes on another
/// number of ranks to the weights of the uninterrupted run.
/// </summary>
[Category(TestSpeed.Slow)]
public class MpiRunTests : BundledDefaultFixture
{
    [OneTimeSetUp]
    public void RequireMpirun()
    {
        bool installed = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => File.Exists(Path.Combine(dir, "mpirun")));
        if (installed) return;
        const string why = "Open MPI's mpirun is not installed (Debian: apt install openmpi-bin; .ci/run installs it)";
        if (Environment.GetEnvironmentVariable("CI") is not null) Assert.Fail(why);
        Assert.Ignore(why);
    }

    private string[] Train(string run, int steps = 12, int samples = 2, string distribute = "batch", bool resume = false) =>
    [
        "train", "--model", _model, "--task", "sst2", "--data", _data, "--out", run, "--train-examples", "64", "--eval-examples", "16",
        "--test-examples", "16", "--steps", $"{steps}", "--batch-size", "8", "--micro-batch-size", "3", "--samples", $"{samples}",
        "--distribute", distribute, "--weight-decay", "0.1", "--lr", "5e-3", "--checkpoint-every", "5", "--eval-every", "4",
        "--log-every", "2", "--seed", "3", .. resume ? new[] { "--resume" } : [],
    ];

    [TestCase("batch", 2, TestName = "the batch shared by 2 and 3 ranks, two samples a step")]
    [TestCase("samples", 3, TestName = "three samples shared by 2 and 3 ranks")]
    public void OneTwoAndThreeRanksWriteTheSameRun(string distribute, int samples)
    {
        string single = Path.Combine(_root, $"{distribute}-1");
        var expected = MezoProcess.Run(Train(single, samples: samples, distribute: distribute));
        Assert.That(expected.ExitCode, Is.EqualTo(0), expected.Error);
        foreach (int ranks in new[] { 2, 3 })
        {
            string run = Path.Combine(_root, $"{distribute}-{ranks}");
            using (var job = MezoProcess.StartUnderMpirun(ranks, Train(run, samples: samples, distribute: distribute)))
            {
                var result = job.WaitForExit();
                Assert.That(result.ExitCode, Is.EqualTo(0), result.Output + result.Error);
                Assert.That(result.Output, Does.Contain($"{ranks} processes (mpirun)"));
                Assert.That(Summary(result.Output), Is.EqualTo(Summary(expected.Output)), "the metrics before and after, and the best validation");
            }
            Assert.That(File.ReadAllBytes(Path.Combine(run, TrajectoryLog.FileName)), Is.EqualTo(File.ReadAllBytes(Path.Combine(single, TrajectoryLog.FileName))),
                $"{ranks} ranks: every seed, L+, L− and g");
            Assert.That(Weights(single, "model"), Is.Not.Empty);
            foreach (string folder in new[] { "model", "best", "checkpoint" })
                Assert.That(Weights(run, folder), Is.EqualTo(Weights(single, folder)), $"{ranks} ranks: {folder}/");
            Assert.That(RunManifest.Read(run).WorldSize, Is.EqualTo(ranks));
        }
    }

    [Test]
    public void AKilledRankEndsTheJobAndTheRunResumesOnAnotherNumberOfRanks()
    {
        const int steps = 200;
        string reference = Path.Combine(_root, "kill-reference"), run = Path.Combine(_root, "killed");
        var uninterrupted = MezoProcess.Run(Train(reference, steps));
        Assert.That(uninterrupted.ExitCode, Is.EqualTo(0), uninterrupted.Error);

        (int ExitCode, string Output, string Error) ended;
        using (var job = MezoProcess.StartUnderMpirun(2, Train(run, steps)))
        {
            job.WaitUntil(() => ResumeAfterKillTests.TrajectoryLines(run) >= 2 * 12 + 1, "step 12's first record is on disk");
            int rank1 = RankProcess(job.Id, rank: 1);
            using (var kill = System.Diagnostics.Process.Start("kill", ["-9", rank1.ToString(CultureInfo.InvariantCulture)])) kill.WaitForExit();
            ended = job.WaitForExit();
        }
        Assert.That(ended.ExitCode, Is.Not.EqualTo(0), "the job ends when one of its ranks dies");
        Assert.That(ended.Error, Does.Contain("rank 1").And.Contain("signal 9"), "mpirun names the rank that died and how");

        using (var resumed = MezoProcess.StartUnderMpirun(3, Train(run, steps, resume: true)))
        {
            var result = resumed.WaitForExit();
            Assert.That(result.ExitCode, Is.EqualTo(0), result.Output + result.Error);
            Assert.That(result.Output, Does.Contain("the run began on 2 process(es) and continues on 3"));
        }
        Assert.That(Weights(run, "model"), Is.EqualTo(Weights(reference, "model")), "the resumed run ends with the uninterrupted run's weights");
        Assert.That(File.ReadAllBytes(Path.Combine(run, TrajectoryLog.FileName)), Is.EqualTo(File.ReadAllBytes(Path.Combine(reference, TrajectoryLog.FileName))));
    }

    [Test]
    public void RanksShareAnEvaluationAndReportWhatOneProcessDoes()
    {
        string[] eval = ["eval", "--model", _model, "--task", "sst2", "--data", _data, "--test-examples", "45", "--batch-size", "4", "--json"];
        var expected = MezoProcess.Run(eval);
        Assert.That(expected.ExitCode, Is.EqualTo(0), expected.Error);
        foreach (int ranks in new[] { 2, 3 })
        {
            using var job = MezoProcess.StartUnderMpirun(ranks, eval);
            var result = job.WaitForExit();
            Assert.That(result.ExitCode, Is.EqualTo(0), result.Output + result.Error);
            Assert.That(Metric(result.Output), Is.EqualTo(Metric(expected.Output)), $"{ranks} ranks: one report, the same accuracy");
        }

        static (double, int) Metric(string json)
        {
            using var document = System.Text.Json.JsonDocument.Parse(json);
            return (document.RootElement.GetProperty("value").GetDouble(), document.RootElement.GetProperty("examples").GetInt32());
        }
    }

    [Test]
    public void AnErrorEveryRankMeetsIsReportedOnceAndEndsTheJob()
    {
        string run = Path.Combine(_root, "refused");
        using var job = MezoProcess.StartUnderMpirun(2, [.. Train(run), "--optimizer", "adamw"]);
        var result = job.WaitForExit();
        Assert.That(result.ExitCode, Is.EqualTo(1), result.Output + result.Error);
        string message = "--optimizer adamw runs in one process";
        Assert.That(result.Error.Split('\n').Count(line => line.Contains(message)), Is.EqualTo(1), result.Error);
    }

    /// <summary>The process of rank <paramref name="rank"/>: the child of mpirun whose environment says so.</summary>
    private static int RankProcess(int mpirun, int rank)
    {
        foreach (string task in Directory.GetDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            string environment;
            try
            {
                if (!File.ReadAllText(Path.Combine(task, "stat")).Split(") ")[1].Split(' ')[1].Equals(mpirun.ToString(CultureInfo.InvariantCulture)))
                    continue;
                environment = File.ReadAllText(Path.Combine(task, "environ"));
            }
            catch (IOException)
            {
                continue; // the process ended meanwhile
            }
            if (environment.Split('\0').Contains($"OMPI_COMM_WORLD_RANK={rank}")) return int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture);
        }
        throw new AssertionException($"no child of mpirun ({mpirun}) is rank {rank}");
    }

    private static string Summary(string output) =>
        string.Join('\n', output.Split('\n').Where(l => l.StartsWith("validation ") || l.StartsWith("test ") || l.StartsWith("step ")));

    /// <summary>The weight files of a run's model folder by name; none when the folder is absent (best/ when nothing beat step 0).</summary>
    private static Dictionary<string, byte[]> Weights(string run, string folder) =>
        Directory.Exists(Path.Combine(run, folder))
            ? Directory.GetFiles(Path.Combine(run, folder), "*.safetensors").ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes)
            : [];
}
