using MeZO.Engine.Checkpoints;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Checkpoints;

/// <summary>
/// <see cref="HubCache"/> on a cache laid out as huggingface_hub lays it out (refs/ naming commits, snapshots/ of
/// files linking into blobs/), built here in a temporary folder: ids, revisions, the environment's precedence, and
/// the errors that say what to run.
/// </summary>
[TestFixture]
public sealed class HubCacheTests
{
    private string _root = null!;
    private const string Main = "0123456789abcdef0123456789abcdef01234567", Tagged = "fedcba9876543210fedcba9876543210fedcba98";

    [SetUp]
    public void CreateCache()
    {
        _root = Path.Combine(Path.GetTempPath(), "mezo-hub-" + Guid.NewGuid().ToString("N"));
        string repository = Path.Combine(_root, "hub", "models--facebook--opt-125m");
        Directory.CreateDirectory(Path.Combine(repository, "refs"));
        Directory.CreateDirectory(Path.Combine(repository, "blobs"));
        File.WriteAllText(Path.Combine(repository, "refs", "main"), Main);
        File.WriteAllText(Path.Combine(repository, "refs", "v1.0"), Tagged + "\n");
        foreach (string commit in new[] { Main, Tagged })
        {
            string snapshot = Path.Combine(repository, "snapshots", commit);
            Directory.CreateDirectory(snapshot);
            string blob = Path.Combine(repository, "blobs", "config-" + commit[..4]);
            File.WriteAllText(blob, "{}");
            File.CreateSymbolicLink(Path.Combine(snapshot, "config.json"), blob);
        }
    }

    [TearDown]
    public void DeleteCache() => Directory.Delete(_root, recursive: true);

    private Func<string, string?> Env(params (string Name, string Value)[] values) =>
        name => values.FirstOrDefault(v => v.Name == name).Value;

    [Test]
    public void AnIdResolvesToTheSnapshotItsRevisionNames()
    {
        var env = Env(("HF_HOME", _root));
        string repository = Path.Combine(_root, "hub", "models--facebook--opt-125m");
        Assert.That(HubCache.Resolve("facebook/opt-125m", null, env), Is.EqualTo(Path.Combine(repository, "snapshots", Main)));
        Assert.That(HubCache.Resolve("facebook/opt-125m", "v1.0", env), Is.EqualTo(Path.Combine(repository, "snapshots", Tagged)));
        Assert.That(HubCache.Resolve("facebook/opt-125m", Tagged, env), Is.EqualTo(Path.Combine(repository, "snapshots", Tagged)), "a commit");
        Assert.That(File.ReadAllText(Path.Combine(HubCache.Resolve("facebook/opt-125m", null, env), "config.json")), Is.EqualTo("{}"),
            "the snapshot's files are links into blobs/");
    }

    [Test]
    public void TheEnvironmentDecidesWhereTheCacheIs()
    {
        Assert.That(HubCache.Directory(Env(("HF_HUB_CACHE", "/a"), ("HF_HOME", "/b"))), Is.EqualTo("/a"));
        Assert.That(HubCache.Directory(Env(("HF_HOME", "/b"), ("XDG_CACHE_HOME", "/c"))), Is.EqualTo(Path.Combine("/b", "hub")));
        Assert.That(HubCache.Directory(Env(("XDG_CACHE_HOME", "/c"))), Is.EqualTo(Path.Combine("/c", "huggingface", "hub")));
        Assert.That(HubCache.Directory(Env()), Does.EndWith(Path.Combine(".cache", "huggingface", "hub")));
    }

    [Test]
    public void AFolderIsItselfAndAPathIsLeftToTheLoader()
    {
        Assert.That(HubCache.Resolve(_root, null, Env(("HF_HOME", _root))), Is.EqualTo(_root));
        Assert.That(HubCache.Resolve("./no/such/folder", null, Env(("HF_HOME", _root))), Is.EqualTo("./no/such/folder"));
        Assert.That(() => HubCache.Resolve(_root, "main", Env(("HF_HOME", _root))),
            Throws.InstanceOf<InvalidInputException>().With.Message.Contains("--revision main applies to a Hugging Face Hub id"));
    }

    [Test]
    public void AMissingModelOrRevisionSaysWhatToRun()
    {
        var env = Env(("HF_HOME", _root));
        Assert.That(() => HubCache.Resolve("meta-llama/Llama-3.2-1B", null, env), Throws.InstanceOf<InvalidInputException>()
            .With.Message.Contains("never downloads").And.Message.Contains("huggingface-cli download meta-llama/Llama-3.2-1B"));
        Assert.That(() => HubCache.Resolve("facebook/opt-125m", "v2", env), Throws.InstanceOf<InvalidInputException>()
            .With.Message.Contains("not at revision v2").And.Message.Contains("main, v1.0")
            .And.Message.Contains("huggingface-cli download facebook/opt-125m --revision v2"));
    }
}
