using MeZO.Trainer.Tests.Support;
using NUnit.Framework;

namespace MeZO.Trainer.Tests;

/// <summary>Deletes what the tests generated once for all of them (the bundled default's folders).</summary>
[SetUpFixture]
public sealed class TestRunCleanup
{
    [OneTimeTearDown]
    public void DeleteGeneratedFolders() => BundledRun.Delete();
}
