using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Tensors;

public class TensorShapeTests
{
    /// <summary>Rows is the product of every dimension but the last, whatever the last one is (0 included).</summary>
    [TestCase(new[] { 4, 5 }, 4L)]
    [TestCase(new[] { 2, 3, 7 }, 6L)]
    [TestCase(new[] { 3, 0 }, 3L)]       // three rows of no columns: x (M, K = 0) of an empty-depth Linear
    [TestCase(new[] { 2, 3, 0 }, 6L)]
    [TestCase(new[] { 0, 5 }, 0L)]       // no rows of five columns
    [TestCase(new[] { 2, 0, 5 }, 0L)]
    [TestCase(new[] { 7 }, 1L)]          // a vector is one row
    [TestCase(new[] { 0 }, 1L)]          // one row of no columns
    [TestCase(new int[0], 1L)]           // a scalar: the empty product
    public void RowsIsTheProductOfTheLeadingDimensions(int[] dims, long rows)
    {
        Assert.That(new TensorShape(dims).Rows, Is.EqualTo(rows));
    }

    [TestCase(new[] { 4, 5 }, 20L)]
    [TestCase(new[] { 3, 0 }, 0L)]
    [TestCase(new[] { 0 }, 0L)]
    [TestCase(new int[0], 1L)]
    public void ElementCountIsTheProductOfAllDimensions(int[] dims, long count)
    {
        Assert.That(new TensorShape(dims).ElementCount, Is.EqualTo(count));
    }
}
