using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Gradients;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Models;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda.Emulation;

/// <summary>
/// <see cref="ModelGradient"/> on CudaBackend, on the host emulation of its kernels: every backward kernel composed
/// into a whole model's gradient (gradients written over the tensors they come from, tied and shared tensors summing
/// their uses), checked as ModelGradientTests checks the CPU's — against the independent double-precision oracle's
/// central differences along random directions — on a padded batch of every tiny architecture.
/// </summary>
[Category("HostKernels")]
public sealed class EmulatedModelGradientTests
{
    private static readonly int[] Lengths = [7, 3, 6];

    private CudaBackend _emulated = null!;

    [OneTimeSetUp]
    public void Open()
    {
        var options = new CudaBackendOptions { Precision = MatmulPrecision.Float32, UseCublasLt = false };
        _emulated = new CudaBackend(new EmulatedRuntime(80), options, new MemoryReport());
    }

    [OneTimeTearDown]
    public void Close() => _emulated?.Dispose();

    /// <summary>Left padding for every other architecture, right for the rest: both sides are covered.</summary>
    [Test]
    public void DirectionalDerivativesMatchTheOraclesFiniteDifferences(
        [ValueSource(typeof(TinyCheckpoints), nameof(TinyCheckpoints.AllVariants))] TinyVariant variant)
    {
        var side = (int)variant % 2 == 0 ? PaddingSide.Left : PaddingSide.Right;
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var model = Transformer.Load(checkpoint.Folder, _emulated);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 19, Lengths), side);
        var (rows, targets) = ModelGradientTests.NextTokenPairs(batch);
        using var gradients = ModelGradient.Compute(model, batch, rows, targets, Enumerable.Repeat(-1f, rows.Length).ToArray());

        double loss = GradientOracle.Loss(checkpoint, checkpoint.Weights, batch, rows, targets);
        Assert.That(gradients.Objective, Is.EqualTo(loss).Within(ParityRuns.Tolerance(Math.Abs(loss))), "objective");
        var rng = new Random((int)variant * 10 + 3);
        for (int direction = 0; direction < 2; direction++)
        {
            var d = checkpoint.Weights.ToDictionary(p => p.Key, p => GradientOracle.Normal(rng, p.Value.Values.Length));
            GradientOracle.AssertDirectionalDerivative(checkpoint, gradients.Download, d, batch, rows, targets,
                $"{checkpoint} {side} direction {direction} on the emulated GPU");
        }
    }

    /// <summary>
    /// CUDA computes a 16-bit model in its own dtype by default, which backprop refuses; the trainer, `mezo grad` and
    /// `mezo bench memory` load with <see cref="ModelGradient.ActivationDType"/> instead, and the gradient is then the CPU's.
    /// </summary>
    [Test]
    public void ASixteenBitModelBackpropagatesOnCudaWhenLoadedWithBackpropsComputeDType()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaUntied);
        var batch = TokenBatch.Pack(ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 23, Lengths), PaddingSide.Right);
        var (rows, targets) = ModelGradientTests.NextTokenPairs(batch);
        var weights = Enumerable.Repeat(-1f, rows.Length).ToArray();

        using (var byDefault = Transformer.Load(checkpoint.Folder, _emulated, DType.BF16))
        {
            Assert.That(byDefault.Compute, Is.EqualTo(DType.BF16), "CUDA's default for bf16 weights");
            var refused = Assert.Throws<InvalidInputException>(() => ModelGradient.Compute(byDefault, batch, rows, targets, weights));
            Assert.That(refused!.Message, Does.Contain("backprop computes in float32"));
        }

        using var cpu = new CpuBackend();
        using var onCpu = Transformer.Load(checkpoint.Folder, cpu, DType.BF16);
        using var onCuda = Transformer.Load(checkpoint.Folder, _emulated, DType.BF16, compute: ModelGradient.ActivationDType);
        using var expected = ModelGradient.Compute(onCpu, batch, rows, targets, weights);
        using var actual = ModelGradient.Compute(onCuda, batch, rows, targets, weights);
        Assert.That(actual.Objective, Is.EqualTo(expected.Objective).Within(ParityRuns.Tolerance(Math.Abs(expected.Objective))));
    }
}
