using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu.Backward;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Backward;

/// <summary><see cref="CpuLogitsBackward.LogSoftmaxGather"/>: the gradient of the targets' log-probabilities.</summary>
[TestFixture]
public sealed class LogSoftmaxGatherBackwardTests : BackwardTestBase
{
    [Test]
    public void LogSoftmaxGatherBackwardMatchesFiniteDifferences([ValueSource(nameof(AwkwardRows))] int rows,
        [ValueSource(nameof(AwkwardWidths))] int vocab)
    {
        var rng = new Random(rows * 1000 + vocab);
        // Scale 3 gives peaked rows (softmax near 1 somewhere) as well as flat ones; an offset exercises the max shift.
        float[] logits = Normal(rng, rows * vocab, scale: 3.0, offset: 20.0);
        // Both ends of the vocabulary: the first row's target is 0, the last row's V − 1.
        int[] targets = Enumerable.Range(0, rows).Select(s => s == 0 ? 0 : s == rows - 1 ? vocab - 1 : rng.Next(vocab)).ToArray();
        if (rows == 1 && vocab > 1) targets[0] = vocab - 1;
        float[] r = Normal(rng, rows);
        var logitsGrad = Zeros("logits.grad", DType.F32, rows, vocab);

        Backend.LogSoftmaxGatherBackward(F32("logits", logits, rows, vocab), I32("targets", targets, rows), F32("logprobs.grad", r, rows),
            logitsGrad);

        double[] ld = ToDouble(logits);
        double Loss()
        {
            double sum = 0;
            for (int s = 0; s < rows; s++)
            {
                double max = double.NegativeInfinity, total = 0;
                for (int v = 0; v < vocab; v++) max = Math.Max(max, ld[s * vocab + v]);
                for (int v = 0; v < vocab; v++) total += Math.Exp(ld[s * vocab + v] - max);
                sum += r[s] * (ld[s * vocab + targets[s]] - max - Math.Log(total));
            }
            return sum;
        }
        // The softmax's denominator sums V float32 exponentials (each a few ulps).
        AssertGradient(ReadF32(logitsGrad), FiniteDifferences(ld, Loss), vocab, "logitsGrad");
    }

    [Test]
    public void LogSoftmaxGatherBackwardGivesTheSameBitsTwice()
    {
        const int rows = 40, vocab = 5003;
        var rng = new Random(4);
        var logits = F32("logits", Normal(rng, rows * vocab, scale: 3.0), rows, vocab);
        var targets = I32("targets", Enumerable.Range(0, rows).Select(_ => rng.Next(vocab)).ToArray(), rows);
        var outputGrad = F32("logprobs.grad", Enumerable.Repeat(-1f / rows, rows).ToArray(), rows);
        var first = Zeros("first.grad", DType.F32, rows, vocab);
        var second = Zeros("second.grad", DType.F32, rows, vocab);

        Backend.LogSoftmaxGatherBackward(logits, targets, outputGrad, first);
        Backend.LogSoftmaxGatherBackward(logits, targets, outputGrad, second);

        float[] values = ReadF32(first);
        AssertSameBits(values, ReadF32(second), "logitsGrad");
        // Each row of onehot − softmax sums to 0, so each gradient row does too (up to float32 rounding over V terms).
        for (int s = 0; s < rows; s++)
            Assert.That(values.Skip(s * vocab).Take(vocab).Sum(v => (double)v), Is.EqualTo(0).Within(vocab * Ulp32 / rows), $"row {s} sum");
    }

    [Test]
    public void LogSoftmaxGatherBackwardRejectsBadTensorsByName()
    {
        var logits = F32("logits", new float[2 * 5], 2, 5);
        var targets = I32("targets", [0, 4], 2);
        var outputGrad = F32("logprobs.grad", new float[2], 2);
        var logitsGrad = Zeros("logits.grad", DType.F32, 2, 5);
        AssertNamesTensor(() => BackwardContracts.LogSoftmaxGather(Backend, logits, Zeros("float_targets", DType.F32, 2), outputGrad, logitsGrad), "float_targets");
        AssertNamesTensor(() => BackwardContracts.LogSoftmaxGather(Backend, logits, targets, F32("long.grad", new float[3], 3), logitsGrad), "long.grad");
        AssertNamesTensor(() => BackwardContracts.LogSoftmaxGather(Backend, logits, targets, outputGrad, Zeros("wide.grad", DType.F32, 2, 6)), "wide.grad");
        AssertNamesTensor(() => Backend.LogSoftmaxGatherBackward(logits, I32("far_targets", [0, 5], 2), outputGrad, logitsGrad), "logits");
    }
}
