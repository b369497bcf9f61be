using MeZO.Engine.Backends;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Backward;

/// <summary>
/// The backward of the fused-qkv column slice and of the LM head's row gather. Both ops are linear, so the finite
/// differences are exact up to rounding; they still come from a double forward written here.
/// </summary>
[TestFixture]
public sealed class RowsBackwardTests : BackwardTestBase
{
    [Test]
    public void SliceColumnsBackwardWritesItsColumnsAndLeavesTheOthers([ValueSource(nameof(AwkwardRows))] int rows, [ValueSource(nameof(AwkwardWidths))] int width)
    {
        var rng = new Random(rows * 1000 + width);
        int columns = 3 * width + 2, start = width + 1;
        float[] x = Normal(rng, rows * columns), r = Normal(rng, rows * width), initial = Normal(rng, rows * columns);
        var inputGrad = F32("qkv.grad", initial, rows, columns);

        Backend.SliceColumnsBackward(F32("k.grad", r, rows, width), start, inputGrad);

        double[] theta = ToDouble(x);
        double Loss()
        {
            double sum = 0;
            for (int n = 0; n < rows; n++)
                for (int c = 0; c < width; c++)
                    sum += r[n * width + c] * theta[n * columns + start + c];
            return sum;
        }
        double[] expected = FiniteDifferences(theta, Loss);
        // Written (=) inside the slice; outside it the caller's values must survive untouched.
        for (int n = 0; n < rows; n++)
            for (int c = 0; c < columns; c++)
                if (c < start || c >= start + width) expected[n * columns + c] = initial[n * columns + c];
        AssertGradient(ReadF32(inputGrad), expected, 1, "inputGrad");
    }

    [Test]
    public void GatherRowsBackwardAddsTheFiniteDifferenceGradient([ValueSource(nameof(AwkwardRows))] int picked, [ValueSource(nameof(AwkwardWidths))] int width)
    {
        const int rows = 6;
        var rng = new Random(picked * 1000 + width);
        // Row 5 is picked at positions 0 and 2 once there are three, so a repeated row must sum both.
        int[] index = Enumerable.Range(0, picked).Select(s => s is 0 or 2 ? rows - 1 : rng.Next(rows)).ToArray();
        float[] x = Normal(rng, rows * width), r = Normal(rng, picked * width), initial = Normal(rng, rows * width);
        var inputGrad = F32("final.grad", initial, rows, width);

        Backend.GatherRowsBackward(F32("picked.grad", r, picked, width), I32("rows", index, picked), inputGrad);

        double[] theta = ToDouble(x);
        double Loss()
        {
            double sum = 0;
            for (int s = 0; s < picked; s++)
                for (int c = 0; c < width; c++)
                    sum += r[s * width + c] * theta[index[s] * width + c];
            return sum;
        }
        AssertGradient(ReadF32(inputGrad), Plus(initial, FiniteDifferences(theta, Loss)), picked, "inputGrad");
    }

    [Test]
    public void GatherRowsBackwardWithRepeatedRowsGivesTheSameBitsEveryCall()
    {
        const int rows = 4, picked = 500, width = 129;
        var rng = new Random(5);
        var outputGrad = F32("picked.grad", Normal(rng, picked * width), picked, width);
        var index = I32("rows", Enumerable.Range(0, picked).Select(_ => rng.Next(rows)).ToArray(), picked);
        var first = Zeros("first.grad", DType.F32, rows, width);
        var second = Zeros("second.grad", DType.F32, rows, width);

        Backend.GatherRowsBackward(outputGrad, index, first);
        Backend.GatherRowsBackward(outputGrad, index, second);

        AssertSameBits(ReadF32(first), ReadF32(second), "inputGrad");
    }

    [Test]
    public void RowsBackwardRejectsBadTensorsByName()
    {
        var grad = F32("k.grad", new float[3 * 4], 3, 4);
        var inputGrad = Zeros("qkv.grad", DType.F32, 3, 12);
        AssertNamesTensor(() => BackwardContracts.SliceColumns(Backend, grad, 9, inputGrad), "qkv.grad");
        AssertNamesTensor(() => BackwardContracts.SliceColumns(Backend, grad, 0, Zeros("half.grad", DType.F16, 3, 12)), "half.grad");
        var rows = I32("rows", [0, 1, 2], 3);
        var finalGrad = Zeros("final.grad", DType.F32, 3, 4);
        AssertNamesTensor(() => BackwardContracts.GatherRows(Backend, F32("short.grad", new float[8], 2, 4), rows, finalGrad), "short.grad");
        AssertNamesTensor(() => BackwardContracts.GatherRows(Backend, grad, Zeros("float_rows", DType.F32, 3), finalGrad), "float_rows");
        AssertNamesTensor(() => Backend.GatherRowsBackward(grad, I32("bad_rows", [0, 3, 1], 3), finalGrad), "final.grad");
    }
}
