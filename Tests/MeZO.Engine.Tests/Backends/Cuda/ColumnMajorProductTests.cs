using MeZO.Engine.Backends.Cuda.Runtime;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda;

/// <summary>
/// The column-major description CublasLtProducts gives cuBLASLt, evaluated the way cuBLASLt defines it (column-major
/// storage, D = op(A)·B, the bias epilogue adding bias[i] to row i of D) over the row-major buffers the engine holds,
/// reproduces the row-major x·Wᵀ + b: the transposes and leading dimensions are right before any GPU sees them.
/// </summary>
public class ColumnMajorProductTests
{
    [TestCase(1, 1, 1, false)]
    [TestCase(1, 1, 1, true)]
    [TestCase(1, 5, 3, false)] // one row of x: the decoding step
    [TestCase(1, 5, 3, true)]
    [TestCase(3, 17, 5, false)]
    [TestCase(3, 17, 5, true)]
    [TestCase(7, 4, 9, false)]
    [TestCase(7, 4, 9, true)]
    public void DescribesTheRowMajorProduct(int m, int k, int n, bool transposed)
    {
        var random = new Random(m * 100 + k * 10 + n);
        double[] x = Values(random, m * k), w = Values(random, n * k), bias = Values(random, n);
        var product = ColumnMajorProduct.Of(m, n, k, transposed);

        // cuBLASLt's rules: op(A) is (rows of D) × K, B is K × (columns of D), every leading dimension covers its rows.
        var (opRows, opColumns) = product.TransposeA ? (product.A.Columns, product.A.Rows) : (product.A.Rows, product.A.Columns);
        Assert.That((opRows, opColumns), Is.EqualTo(((long)n, (long)k)));
        Assert.That((product.B.Rows, product.B.Columns), Is.EqualTo(((long)k, (long)m)));
        Assert.That((product.D.Rows, product.D.Columns), Is.EqualTo(((long)n, (long)m)));
        foreach (var layout in new[] { product.A, product.B, product.D })
            Assert.That(layout.LeadingDimension, Is.GreaterThanOrEqualTo(layout.Rows));

        var d = new double[m * n]; // the output buffer, written column-major as D
        for (long j = 0; j < product.D.Columns; j++)
            for (long i = 0; i < product.D.Rows; i++)
            {
                double sum = bias[i];
                for (long l = 0; l < k; l++)
                {
                    double a = product.TransposeA ? w[l + i * product.A.LeadingDimension] : w[i + l * product.A.LeadingDimension];
                    sum += a * x[l + j * product.B.LeadingDimension];
                }
                d[i + j * product.D.LeadingDimension] = sum;
            }

        for (int r = 0; r < m; r++)
            for (int c = 0; c < n; c++)
            {
                double expected = bias[c];
                for (int t = 0; t < k; t++) expected += x[r * k + t] * (transposed ? w[t * n + c] : w[c * k + t]);
                // The same products, summed in the same order (t ascending): equal to the last bit.
                Assert.That(d[r * n + c], Is.EqualTo(expected), $"output ({r}, {c})");
            }
    }

    private static double[] Values(Random random, int count) => Enumerable.Range(0, count).Select(_ => random.NextDouble() * 2 - 1).ToArray();
}
