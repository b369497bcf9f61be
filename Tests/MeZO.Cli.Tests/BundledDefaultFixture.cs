using MeZO.Trainer.Default;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// A fixture that trains on the bundled default: the model and data generated once, in a temporary folder of the
/// fixture's own (never ~/.cache), which also holds its runs and is deleted after.
/// </summary>
public abstract class BundledDefaultFixture
{
    protected string _root = null!, _model = null!, _data = null!;

    [OneTimeSetUp]
    public void PrepareBundledDefault()
    {
        _root = Path.Combine(Path.GetTempPath(), $"mezo-cli-{GetType().Name}-{Guid.NewGuid():N}");
        (_model, _data) = BundledDefault.Prepare(Path.Combine(_root, "cache"));
    }

    [OneTimeTearDown]
    public void DeleteRoot() => Directory.Delete(_root, recursive: true);
}
