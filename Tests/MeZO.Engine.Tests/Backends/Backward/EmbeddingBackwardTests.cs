using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu.Backward;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Backward;

/// <summary><see cref="CpuRowsBackward.Embedding"/>: a scatter-add into the table's gradient, repeated ids included.</summary>
[TestFixture]
public sealed class EmbeddingBackwardTests : BackwardTestBase
{
    private const int Vocabulary = 5;

    [Test]
    public void EmbeddingBackwardAddsTheFiniteDifferenceGradient([ValueSource(nameof(AwkwardRows))] int rows, [ValueSource(nameof(AwkwardWidths))] int width)
    {
        var rng = new Random(rows * 1000 + width);
        float[] table = Normal(rng, Vocabulary * width);
        // Every id repeats once there are three positions (id 4 at positions 0 and 2), and the last vocabulary row is used.
        int[] ids = Enumerable.Range(0, rows).Select(n => n == 0 ? Vocabulary - 1 : n == 2 ? Vocabulary - 1 : rng.Next(Vocabulary)).ToArray();
        float[] r = Normal(rng, rows * width);
        float[] initial = Normal(rng, Vocabulary * width);
        var tableGrad = F32("wte.grad", initial, Vocabulary, width);

        Backend.EmbeddingBackward(F32("embed_out.grad", r, rows, width), I32("ids", ids, rows), tableGrad);

        double[] theta = ToDouble(table);
        double Loss()
        {
            double sum = 0;
            for (int n = 0; n < rows; n++)
                for (int c = 0; c < width; c++)
                    sum += r[n * width + c] * theta[ids[n] * width + c];
            return sum;
        }
        // Each element sums at most `rows` output rows onto its initial value.
        AssertGradient(ReadF32(tableGrad), Plus(initial, FiniteDifferences(theta, Loss)), rows, "tableGrad");
    }

    [Test]
    public void EmbeddingBackwardCalledTwiceAddsTwiceAndGivesTheSameBits()
    {
        const int rows = 300, width = 129;
        var rng = new Random(3);
        int[] ids = Enumerable.Range(0, rows).Select(_ => rng.Next(Vocabulary)).ToArray();
        var outputGrad = F32("embed_out.grad", Normal(rng, rows * width), rows, width);
        var idTensor = I32("ids", ids, rows);
        var once = Zeros("once.grad", DType.F32, Vocabulary, width);
        var again = Zeros("again.grad", DType.F32, Vocabulary, width);
        var twice = Zeros("twice.grad", DType.F32, Vocabulary, width);

        Backend.EmbeddingBackward(outputGrad, idTensor, once);
        Backend.EmbeddingBackward(outputGrad, idTensor, again);
        Backend.EmbeddingBackward(outputGrad, idTensor, twice);
        Backend.EmbeddingBackward(outputGrad, idTensor, twice);

        float[] first = ReadF32(once);
        AssertSameBits(first, ReadF32(again), "tableGrad");
        // The second call adds its rows one by one onto the first call's sums: 2·S up to ~rows/5 further roundings.
        AssertGradient(ReadF32(twice), first.Select(v => 2.0 * v).ToArray(), rows, "tableGrad twice");
    }

    [Test]
    public void EmbeddingBackwardRejectsBadTensorsByName()
    {
        var outputGrad = F32("embed_out.grad", new float[3 * 4], 3, 4);
        var ids = I32("ids", [0, 1, 2], 3);
        var tableGrad = Zeros("wte.grad", DType.F32, Vocabulary, 4);
        AssertNamesTensor(() => BackwardContracts.Embedding(Backend, outputGrad, ids, Zeros("half.grad", DType.F16, Vocabulary, 4)), "half.grad");
        AssertNamesTensor(() => BackwardContracts.Embedding(Backend, outputGrad, Zeros("float_ids", DType.F32, 3), tableGrad), "float_ids");
        AssertNamesTensor(() => BackwardContracts.Embedding(Backend, F32("short.grad", new float[8], 2, 4), ids, tableGrad), "short.grad");
        AssertNamesTensor(() => Backend.EmbeddingBackward(outputGrad, I32("bad_ids", [0, Vocabulary, 1], 3), tableGrad), "wte.grad");
    }
}
