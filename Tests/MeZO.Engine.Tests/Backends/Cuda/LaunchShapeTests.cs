using MeZO.Engine.Backends.Cuda.Runtime;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda;

/// <summary>Launch shapes stay inside the driver's grid limits (cuLaunchKernel refuses gridDim.x above 2³¹ − 1).</summary>
public class LaunchShapeTests
{
    [Test]
    public void OneBlockPerRowUpToTheGridLimitAndAClearErrorBeyond()
    {
        Assert.That(LaunchShape.PerRow(int.MaxValue, 5000).Grid.X, Is.EqualTo((uint)int.MaxValue));
        Assert.That(() => LaunchShape.PerRow(1L << 31, 5000),
            Throws.TypeOf<NotSupportedException>().With.Message.EqualTo("2147483648 rows exceed the 2147483647 blocks of a CUDA grid (one block per row)"));
    }

    [TestCase(1, 32u)]
    [TestCase(33, 64u)]
    [TestCase(50272, 256u)]
    public void RowBlocksAreWholeWarpsOfAtMost256Threads(int width, uint threads) =>
        Assert.That(LaunchShape.PerRow(3, width).Block.X, Is.EqualTo(threads));

    [Test]
    public void GridStrideLaunchesAreCappedAndNeverEmpty()
    {
        Assert.That(LaunchShape.Striding(0).Grid.X, Is.EqualTo(1u));
        Assert.That(LaunchShape.Striding(13_000_000_000).Grid.X, Is.EqualTo(65536u)); // an OPT-13B-sized pass
    }
}
