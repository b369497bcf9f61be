using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Mezo;

/// <summary>
/// With learning rate 0 nothing may change: MeZO steps — both perturbed forward passes and the update — leave every
/// stored bit of 16-bit weights as it was, on a real checkpoint and on a random one. (Until the perturbation stopped
/// being written into the weights, 1,000 such steps moved bf16 weights by 11 % of their norm.)
/// </summary>
[TestFixture]
public sealed class LearningRateZeroTests
{
    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (var type in new[] { DType.BF16, DType.F16 })
        {
            yield return new TestCaseData("stories260K", type).SetName($"stories260K (real), {type}");
            yield return new TestCaseData("tiny-qwen2", type).SetName($"tiny random Qwen2, {type}");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void StepsAtLearningRateZeroLeaveEveryBitAsItWas(string model, DType type)
    {
        using var tiny = model == "tiny-qwen2" ? TinyCheckpoints.Create(TinyVariant.Qwen2, new TinyCheckpointOptions { DType = DType.F32 }) : null;
        string folder = tiny?.Folder ?? SharedData.Path("models/stories260K");
        using var backend = new CpuBackend();
        using var transformer = Transformer.Load(folder, backend, type);
        var before = transformer.Weights.Parameters.Select(p => PerturbedForwardTests.StoredBits(p.Tensor)).ToArray();
        var step = new MezoStep(TrainableSet.Select(transformer.Weights, null), eps: 1e-3, weightDecay: 0.1);

        var batch = TokenBatch.Pack([[1, 5, 9, 13, 2, 7], [1, 8, 3]], PaddingSide.Right);
        int[] rows = [batch.Row(0, 0), batch.Row(0, 1), batch.Row(0, 2), batch.Row(0, 3), batch.Row(0, 4), batch.Row(1, 0), batch.Row(1, 1)];
        int[] targets = [5, 9, 13, 2, 7, 8, 3];
        using var plusWs = transformer.CreateWorkspace(batch.BatchSize, batch.Length);
        using var minusWs = transformer.CreateLockstepWorkspace(batch.BatchSize, batch.Length);
        var plus = new float[rows.Length];
        var minus = new float[rows.Length];
        var gradients = new List<double>();
        for (long t = 0; t < 10; t++)
        {
            ulong seed = StepSeeds.For(7, t, 0);
            var (_, g) = step.Evaluate(seed, p =>
            {
                transformer.ScoreTokensLockstep(plusWs, minusWs, batch, rows, targets, p, plus, minus);
                return new LossPair(-plus.Average(), -minus.Average());
            });
            gradients.Add(g);
            step.Update(seed, learningRate: 0, g);
        }

        Assert.That(gradients, Has.All.Not.EqualTo(0.0), "the perturbed passes must see the perturbation");
        var after = transformer.Weights.Parameters.Select(p => PerturbedForwardTests.StoredBits(p.Tensor)).ToArray();
        Assert.That(after, Is.EqualTo(before));
    }
}
