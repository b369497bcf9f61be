using MeZO.Engine.Tests.Backends.Cuda;
using NUnit.Framework;

namespace MeZO.Engine.Tests;

/// <summary>Deletes what the tests generated once for all of them (the kernel sources written for the host builds).</summary>
[SetUpFixture]
public sealed class TestRunCleanup
{
    [OneTimeTearDown]
    public void DeleteGeneratedFiles() => HostCompiler.DeleteKernelFolder();
}
