using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// `--model org/name` through the real command line: a model in a Hugging Face cache laid out as huggingface_hub lays
/// it out (built here around stories260K, the snapshot's files linking into blobs/), found through HF_HOME as
/// transformers finds it offline; one that is not there is one line naming the download command.
/// </summary>
public class HubIdTests
{
    private string _root = null!;
    private const string Commit = "3f0d9e1c2b4a5968778695a4b3c2d1e0f9a8b7c6";

    [OneTimeSetUp]
    public void CreateCache()
    {
        _root = Path.Combine(Path.GetTempPath(), "mezo-hub-cli-" + Guid.NewGuid().ToString("N"));
        string repository = Path.Combine(_root, "hub", "models--karpathy--stories260K");
        string snapshot = Path.Combine(repository, "snapshots", Commit), blobs = Path.Combine(repository, "blobs");
        Directory.CreateDirectory(snapshot);
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(Path.Combine(repository, "refs"));
        File.WriteAllText(Path.Combine(repository, "refs", "main"), Commit);
        foreach (string file in Directory.GetFiles(SharedData.Path("models/stories260K")))
        {
            string blob = Path.Combine(blobs, Guid.NewGuid().ToString("N"));
            File.Copy(file, blob);
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(file)), blob);
        }
    }

    [OneTimeTearDown]
    public void DeleteCache() => Directory.Delete(_root, recursive: true);

    private (int ExitCode, string Output, string Error) Mezo(params string[] args)
    {
        using var process = MezoProcess.Start(args, shell: $"HF_HOME='{_root}' HF_HUB_CACHE=");
        return process.WaitForExit();
    }

    [Test]
    public void AHubIdScoresAsItsFolderDoes()
    {
        var byId = Mezo("score", "--model", "karpathy/stories260K", "--text", "Once upon a time", "--json");
        var byFolder = Mezo("score", "--model", SharedData.Path("models/stories260K"), "--text", "Once upon a time", "--json");
        Assert.That(byId.ExitCode, Is.Zero, byId.Error);
        Assert.That(byId.Output, Is.EqualTo(byFolder.Output));
        var inspect = Mezo("inspect", "karpathy/stories260K", "--revision", "main", "--json");
        Assert.That(inspect.ExitCode, Is.Zero, inspect.Error);
        Assert.That(inspect.Output, Does.Contain("\"model_type\": \"llama\""));
    }

    [Test]
    public void AModelNotInTheCacheIsOneLineWithTheCommandThatFetchesIt()
    {
        MezoProcess.AssertOneLineError(Mezo("generate", "--model", "facebook/opt-125m", "--prompt", "Hi"), "huggingface-cli download facebook/opt-125m");
        MezoProcess.AssertOneLineError(Mezo("score", "--model", "karpathy/stories260K", "--revision", "v9", "--text", "Hi"),
            "not at revision v9");
    }
}
