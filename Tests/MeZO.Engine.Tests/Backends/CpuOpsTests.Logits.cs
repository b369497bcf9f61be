using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends;

/// <summary>Reductions over the vocabulary: LogSoftmaxGather and Argmax.</summary>
public sealed partial class CpuOpsTests
{
    [Test]
    public void LogSoftmaxGatherMatchesTheDoubleReference([Values(1, 3, 17, 129, 50272)] int vocab)
    {
        const int rows = 4;
        var rng = new Random(vocab);
        float[] logits = Normal(rng, rows * vocab, scale: 5.0);
        logits[vocab - 1] = 80f; // a dominant logit: exp(80) overflows float32 unless the maximum is subtracted first
        int[] targets = [vocab - 1, 0, rng.Next(vocab), vocab / 2];
        var output = Zeros("logprobs", DType.F32, rows);

        Backend.LogSoftmaxGather(F32("logits", logits, rows, vocab), I32("targets", targets, rows), output);

        double[] expected = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            var row = logits.AsSpan(r * vocab, vocab).ToArray().Select(v => (double)v).ToArray();
            double max = row.Max();
            expected[r] = row[targets[r]] - max - Math.Log(row.Sum(v => Math.Exp(v - max)));
        }
        // The sum of exponentials is ≥ 1 and off by ≤ (vocab + 2)·2⁻²⁴ relative, which is the absolute error of its
        // log; the final subtractions add a rounding relative to the result.
        AssertClose(ReadF32(output), expected, i => (vocab + 2) * Ulp32 + 4 * Ulp32 * Math.Abs(expected[i]), "LogSoftmaxGather");
    }

    [Test]
    public void LogSoftmaxGatherRejectsBadTargetsAndShapes()
    {
        var logits = F32("logits", new float[2 * 5], 2, 5);
        var output = Zeros("logprobs", DType.F32, 2);
        var error = Assert.Throws<ArgumentException>(() => Backend.LogSoftmaxGather(logits, I32("targets", [0, 5], 2), output))!;
        Assert.That(error.Message, Does.Contain("5").And.Contain("vocabulary"));
        AssertNamesTensor(() => Backend.LogSoftmaxGather(logits, I32("short_targets", [0], 1), output), "short_targets");
        AssertNamesTensor(() => Backend.LogSoftmaxGather(logits, I32("targets", [0, 1], 2), Zeros("long_out", DType.F32, 3)), "long_out");
    }

    [TestCase(1)]
    [TestCase(3)]
    [TestCase(17)]
    [TestCase(129)]
    public void ArgmaxPicksTheLargestAndTheLowestIndexOnTies(int vocab)
    {
        var rng = new Random(vocab);
        float[] logits = Normal(rng, 4 * vocab);
        // Row 1: the maximum appears twice; row 2: every entry ties; row 3: the lowest float everywhere but one entry.
        // (A row holding NaN or ±∞ has no argmax: NonFinitePropagationTests.)
        int first = vocab / 2, second = vocab - 1;
        for (int j = 0; j < vocab; j++)
        {
            logits[vocab + j] = Math.Min(logits[vocab + j], 9f);
            logits[2 * vocab + j] = -1.5f;
            logits[3 * vocab + j] = float.MinValue;
        }
        logits[vocab + second] = logits[vocab + first] = 10f;
        logits[3 * vocab + second] = -1e30f;
        var output = Zeros("next_ids", DType.I32, 4);

        Backend.Argmax(F32("logits", logits, 4, vocab), output);

        int[] expected = new int[4];
        for (int r = 0; r < 4; r++)
            for (int j = 1; j < vocab; j++)
                if (logits[r * vocab + j] > logits[r * vocab + expected[r]]) expected[r] = j; // strict: the first maximum wins
        Assert.That(ReadI32(output), Is.EqualTo(expected));
        Assert.That(expected[1], Is.EqualTo(vocab == 1 ? 0 : first), "the tie in row 1 resolves to the lower index");
    }

    [Test]
    public void ArgmaxRejectsMismatchedShapes()
    {
        var logits = F32("logits", new float[2 * 5], 2, 5);
        AssertNamesTensor(() => Backend.Argmax(logits, Zeros("float_ids", DType.F32, 2)), "float_ids");
        AssertNamesTensor(() => Backend.Argmax(logits, Zeros("short_ids", DType.I32, 1)), "short_ids");
    }

    [Test]
    public void ArgmaxRejectsRowsWithoutColumns()
    {
        var error = Assert.Throws<ArgumentException>(() => Backend.Argmax(Zeros("logits", DType.F32, 2, 0), Zeros("next_ids", DType.I32, 2)))!;
        Assert.That(error.Message, Does.Contain("'logits'").And.Contain("no columns"));
        Assert.DoesNotThrow(() => Backend.Argmax(Zeros("no_logits", DType.F32, 0, 0), Zeros("no_ids", DType.I32, 0)),
            "no rows, nothing to choose");
    }
}
