using MeZO.Fuzz;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Fuzz;

/// <summary>
/// Runs every fuzz target's entry function over its seed corpus (tools/MeZO.Fuzz/corpus/&lt;target&gt;/), so the ordinary
/// test run checks the targets and the readers on those inputs without afl-fuzz: a seed may be accepted or refused with
/// an InvalidInputException, never crash the reader.
/// </summary>
public sealed class FuzzCorpusTests
{
    public static IEnumerable<TestCaseData> Seeds() =>
        FuzzTargets.All.SelectMany(target => Directory.EnumerateFiles(CorpusOf(target.Name)).Order(StringComparer.Ordinal)
            .Select(seed => new TestCaseData(target.Name, Path.GetFileName(seed)).SetName($"Seed_{target.Name}_{Path.GetFileName(seed)}")));

    [TestCaseSource(nameof(Seeds))]
    public void SeedDoesNotCrashItsReader(string target, string seed)
    {
        using var scratch = new ScratchFolder();
        FuzzTargets.Find(target)!.Run(File.ReadAllBytes(Path.Combine(CorpusOf(target), seed)), scratch);
    }

    [Test]
    public void EveryTargetHasSeeds()
    {
        foreach (FuzzTarget target in FuzzTargets.All)
            Assert.That(Directory.EnumerateFiles(CorpusOf(target.Name)), Is.Not.Empty, target.Name);
    }

    private static string CorpusOf(string target)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string corpus = Path.Combine(dir.FullName, "tools", "MeZO.Fuzz", "corpus");
            if (Directory.Exists(corpus)) return Path.Combine(corpus, target);
        }
        throw new AssertionException("tools/MeZO.Fuzz/corpus was not found above " + AppContext.BaseDirectory);
    }
}
