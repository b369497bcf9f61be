using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends;

/// <summary>
/// LogSoftmaxAccumulate over a row's logits cut into column chunks gives the row's log-softmax at its target, against a
/// plain double loop over the whole row: chunks of 1, 3 and 17 columns and one chunk of all, targets in the first,
/// a middle and the last chunk, logits of large spread (the running maximum must rescale earlier sums).
/// </summary>
public sealed class LogSoftmaxAccumulateTests
{
    [TestCase(1)]
    [TestCase(3)]
    [TestCase(17)]
    [TestCase(50)]
    public void ChunkedLogSoftmaxEqualsTheWholeRowsInDouble(int chunk)
    {
        const int rows = 5, vocab = 50;
        var random = new Random(chunk);
        var logits = Enumerable.Range(0, rows * vocab).Select(i => (float)((random.NextDouble() - 0.5) * 40 + (i % vocab) * 0.3)).ToArray();
        int[] targets = [0, 49, 17, 3, 33];
        using var backend = new CpuBackend();
        using var state = backend.Allocate(new TensorShape(rows, 3), DType.F32, MemoryCategory.Activations, "state");
        using var targetTensor = backend.Allocate(new TensorShape(rows), DType.I32, MemoryCategory.Activations, "targets");
        backend.Upload<int>(targetTensor, targets);
        backend.Upload<float>(state, Enumerable.Range(0, rows).SelectMany(_ => new[] { float.NegativeInfinity, 0f, float.NaN }).ToArray());
        for (int first = 0; first < vocab; first += chunk)
        {
            int width = Math.Min(chunk, vocab - first);
            using var part = backend.Allocate(new TensorShape(rows, width), DType.F32, MemoryCategory.Activations, "part");
            backend.Upload<float>(part, Enumerable.Range(0, rows).SelectMany(r => logits.Skip(r * vocab + first).Take(width)).ToArray());
            backend.LogSoftmaxAccumulate(part, targetTensor, first, state);
        }
        var s = new float[rows * 3];
        backend.Download<float>(state, s);

        for (int r = 0; r < rows; r++)
        {
            var row = logits.Skip(r * vocab).Take(vocab).Select(v => (double)v).ToArray();
            double max = row.Max();
            double expected = row[targets[r]] - max - Math.Log(row.Sum(v => Math.Exp(v - max)));
            double actual = s[3 * r + 2] - (s[3 * r] + Math.Log(s[3 * r + 1]));
            // float32 sums of up to 50 exponentials, each within a few ulps: 1e-5 of the log-sum is ample.
            Assert.That(actual, Is.EqualTo(expected).Within(1e-5 * (1 + Math.Abs(expected))), $"row {r}");
            Assert.That(s[3 * r], Is.EqualTo((float)max), $"row {r}: the running maximum is the row's");
        }
    }
}
