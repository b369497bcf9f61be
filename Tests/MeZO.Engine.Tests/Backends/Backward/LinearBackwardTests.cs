using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu.Backward;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Backward;

/// <summary>
/// <see cref="CpuMatMulBackward.Linear"/> of output(M, N) = x(M, K)·Wᵀ + bias, W stored (N, K) or as GPT-2's Conv1D
/// (K, N), in every float dtype.
/// </summary>
[TestFixture]
public sealed class LinearBackwardTests : BackwardTestBase
{
    /// <summary>(M, K, N): one row, one feature, one output, and every width from 1 to 129 on each axis.</summary>
    private static readonly int[][] Shapes = [[1, 129, 7], [3, 7, 129], [17, 129, 7], [17, 7, 1], [3, 1, 17]];

    [Test]
    public void LinearBackwardMatchesFiniteDifferences([ValueSource(nameof(Shapes))] int[] shape, [Values] bool transposed,
        [ValueSource(nameof(WeightTypes))] DType type)
    {
        int m = shape[0], k = shape[1], n = shape[2];
        var rng = new Random(m * 10000 + k * 100 + n + (transposed ? 1 : 0));
        float[] x = Normal(rng, m * k);
        float[] weight = Normal(rng, n * k, scale: 0.5);
        float[] bias = Normal(rng, n);
        float[] r = Normal(rng, m * n);
        float[] weightInitial = Normal(rng, n * k), biasInitial = Normal(rng, n);
        int[] weightShape = transposed ? [k, n] : [n, k];
        var inputGrad = Zeros("hidden.grad", DType.F32, m, k);
        var weightGrad = F32("c_fc.weight.grad", weightInitial, weightShape);
        var biasGrad = F32("c_fc.bias.grad", biasInitial, n);

        Backend.LinearBackward(F32("hidden", x, m, k), Weight("c_fc.weight", type, weight, weightShape), transposed,
            F32("c_fc_out.grad", r, m, n), inputGrad, weightGrad, biasGrad);

        double[] xd = ToDouble(x), wd = ToDouble(weight), bd = ToDouble(bias);
        double Loss()
        {
            double sum = 0;
            for (int row = 0; row < m; row++)
                for (int j = 0; j < n; j++)
                {
                    double output = bd[j];
                    for (int i = 0; i < k; i++) output += xd[row * k + i] * wd[transposed ? i * n + j : j * k + i];
                    sum += r[row * n + j] * output;
                }
            return sum;
        }
        AssertGradient(ReadF32(inputGrad), FiniteDifferences(xd, Loss), n, "inputGrad");
        AssertGradient(ReadF32(weightGrad), Plus(weightInitial, FiniteDifferences(wd, Loss)), m, "weightGrad");
        AssertGradient(ReadF32(biasGrad), Plus(biasInitial, FiniteDifferences(bd, Loss)), m, "biasGrad");
    }

    [Test]
    public void LinearBackwardMatchesDoubleProductsAcrossTheGemmBlocks([Values] bool transposed)
    {
        // Reductions of 260 and 300 cross the packed product's 256-deep k blocks; 300 rows cross its row blocks. The
        // gradients are linear in each parameter, so their finite differences are these products exactly.
        const int m = 300, k = 70, n = 260;
        var rng = new Random(transposed ? 11 : 12);
        float[] x = Normal(rng, m * k);
        float[] weight = Normal(rng, n * k, scale: 0.5);
        float[] r = Normal(rng, m * n);
        int[] weightShape = transposed ? [k, n] : [n, k];
        var inputGrad = Zeros("hidden.grad", DType.F32, m, k);
        var weightGrad = Zeros("c_attn.weight.grad", DType.F32, weightShape);
        var biasGrad = Zeros("c_attn.bias.grad", DType.F32, n);

        Backend.LinearBackward(F32("hidden", x, m, k), Weight("c_attn.weight", DType.BF16, weight, weightShape), transposed,
            F32("c_attn_out.grad", r, m, n), inputGrad, weightGrad, biasGrad);

        double[] expectedInput = new double[m * k], expectedWeight = new double[n * k], expectedBias = new double[n];
        for (int row = 0; row < m; row++)
            for (int j = 0; j < n; j++)
            {
                double dy = r[row * n + j];
                expectedBias[j] += dy;
                for (int i = 0; i < k; i++)
                {
                    int w = transposed ? i * n + j : j * k + i;
                    expectedInput[row * k + i] += dy * weight[w];
                    expectedWeight[w] += dy * x[row * k + i];
                }
            }
        AssertGradient(ReadF32(inputGrad), expectedInput, n, "inputGrad");
        AssertGradient(ReadF32(weightGrad), expectedWeight, m, "weightGrad");
        AssertGradient(ReadF32(biasGrad), expectedBias, m, "biasGrad");
    }

    [Test]
    public void LinearBackwardAddsTwiceWhenCalledTwiceAndGivesTheSameBits([Values] bool transposed)
    {
        const int m = 40, k = 129, n = 70;
        var rng = new Random(5);
        var x = F32("hidden", Normal(rng, m * k), m, k);
        int[] weightShape = transposed ? [k, n] : [n, k];
        var weight = Weight("fc.weight", DType.F16, Normal(rng, n * k, scale: 0.5), weightShape);
        var outputGrad = F32("fc_out.grad", Normal(rng, m * n), m, n);
        var inputs = new[] { Zeros("first.grad", DType.F32, m, k), Zeros("second.grad", DType.F32, m, k) };
        var weights = new[] { Zeros("first.weight.grad", DType.F32, weightShape), Zeros("second.weight.grad", DType.F32, weightShape) };
        var biases = new[] { Zeros("first.bias.grad", DType.F32, n), Zeros("second.bias.grad", DType.F32, n) };

        for (int call = 0; call < 2; call++) Backend.LinearBackward(x, weight, transposed, outputGrad, inputs[call], weights[call], biases[call]);
        AssertSameBits(ReadF32(inputs[0]), ReadF32(inputs[1]), "inputGrad");
        AssertSameBits(ReadF32(weights[0]), ReadF32(weights[1]), "weightGrad");
        AssertSameBits(ReadF32(biases[0]), ReadF32(biases[1]), "biasGrad");
        float[] once = ReadF32(weights[0]), onceBias = ReadF32(biases[0]);

        Backend.LinearBackward(x, weight, transposed, outputGrad, null, weights[0], biases[0]);

        // Each call computes its product (and column sums) from zero, then adds it: the second adds exactly the first.
        AssertSameBits(once.Select(v => 2 * v).ToArray(), ReadF32(weights[0]), "weightGrad twice");
        AssertSameBits(onceBias.Select(v => 2 * v).ToArray(), ReadF32(biases[0]), "biasGrad twice");
        Assert.That(once.Any(v => v != 0), "the weight gradient must not be all zeros");
    }

    [Test]
    public void LinearBackwardWeightGradientInBandsGivesTheSameBits([Values] bool transposed)
    {
        // A scratch of 3000 floats holds bands of 3000 / (m + columns) gradient rows: 36 + 25 of the 61 rows of an (N, K)
        // gradient (45 columns), 30 + 15 of the 45 rows of a (K, N) one (61 columns).
        const int m = 37, k = 45, n = 61;
        var rng = new Random(transposed ? 21 : 22);
        var x = F32("hidden", Normal(rng, m * k), m, k);
        int[] weightShape = transposed ? [k, n] : [n, k];
        var weight = Weight("fc.weight", DType.F32, Normal(rng, n * k), weightShape);
        var outputGrad = F32("fc_out.grad", Normal(rng, m * n), m, n);
        var whole = Zeros("whole.weight.grad", DType.F32, weightShape);
        var banded = Zeros("banded.weight.grad", DType.F32, weightShape);

        Backend.LinearBackward(x, weight, transposed, outputGrad, null, whole, null);
        CpuMatMulBackward.Linear(x, weight, transposed, outputGrad, null, banded, null, scratchFloats: 3000);

        float[] expected = ReadF32(whole);
        Assert.That(expected.Any(v => v != 0), "the weight gradient must not be all zeros");
        AssertSameBits(expected, ReadF32(banded), "banded weightGrad");
    }

    [Test]
    public void LinearBackwardSkipsTheGradientsItIsNotGiven()
    {
        const int m = 3, k = 7, n = 5;
        var rng = new Random(9);
        var x = F32("hidden", Normal(rng, m * k), m, k);
        var weight = Weight("fc.weight", DType.F32, Normal(rng, n * k), n, k);
        var outputGrad = F32("fc_out.grad", Normal(rng, m * n), m, n);
        var weightGrad = Zeros("fc.weight.grad", DType.F32, n, k);

        Backend.LinearBackward(x, weight, false, outputGrad, null, weightGrad, null);
        Assert.That(ReadF32(weightGrad).Any(v => v != 0), "the weight gradient asked for is written");
        Assert.DoesNotThrow(() => Backend.LinearBackward(x, weight, false, outputGrad, null, null, null));
    }

    [Test]
    public void LinearBackwardRejectsBadTensorsByName()
    {
        var x = F32("hidden", new float[2 * 8], 2, 8);
        var weight = Weight("fc.weight", DType.BF16, new float[4 * 8], 4, 8);
        var outputGrad = F32("fc_out.grad", new float[2 * 4], 2, 4);
        AssertNamesTensor(() => BackwardContracts.Linear(Backend, x, Weight("narrow.weight", DType.F32, new float[4 * 7], 4, 7), false, outputGrad, null, null, null), "narrow.weight");
        AssertNamesTensor(() => BackwardContracts.Linear(Backend, x, weight, true, outputGrad, null, null, null), "fc.weight");
        AssertNamesTensor(() => BackwardContracts.Linear(Backend, x, weight, false, Zeros("wide_out.grad", DType.F32, 2, 5), null, null, null), "wide_out.grad");
        AssertNamesTensor(() => BackwardContracts.Linear(Backend, x, weight, false, outputGrad, Zeros("short_in.grad", DType.F32, 2, 7), null, null), "short_in.grad");
        AssertNamesTensor(() => BackwardContracts.Linear(Backend, x, weight, false, outputGrad, null, Zeros("bf16.weight.grad", DType.BF16, 4, 8), null), "bf16.weight.grad");
        AssertNamesTensor(() => BackwardContracts.Linear(Backend, x, weight, false, outputGrad, null, Zeros("swapped.weight.grad", DType.F32, 8, 4), null), "swapped.weight.grad");
        AssertNamesTensor(() => BackwardContracts.Linear(Backend, x, weight, false, outputGrad, null, null, Zeros("long.bias.grad", DType.F32, 5)), "long.bias.grad");
    }
}
