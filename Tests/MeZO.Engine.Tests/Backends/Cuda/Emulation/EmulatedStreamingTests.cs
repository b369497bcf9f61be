using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Models.Streaming;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Models.Streaming;
using MeZO.Engine.Tests.Reference;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda.Emulation;

/// <summary>
/// CudaBackend's streamed path on the host emulation of its kernels: the layers in "pinned" host memory of its host
/// backend, each fill on the copy queue under the slot protocol the emulated queue checks (begun after the compute, marked,
/// awaited before the layer's compute), the update on the host with the CPU's z. MeZO steps and an evaluation give the
/// resident emulated run's bits — which the exact noise arithmetic makes the GPU's update — within the budget.
/// </summary>
[Category("HostKernels")]
[Category(TestSpeed.Slow)]
public sealed class EmulatedStreamingTests
{
    private static CudaBackend Emulated(NoiseArithmetic noise = NoiseArithmetic.Exact) =>
        new(new EmulatedRuntime(80), new CudaBackendOptions { UseCublasLt = false, Noise = noise }, new MemoryReport());

    [Test]
    public void StreamedStepsOnTheEmulatedGpuAreBitIdenticalToResidentOnes(
        [Values(TinyVariant.LlamaUntied, TinyVariant.Gpt2, TinyVariant.OptPostLayerNorm)] TinyVariant variant,
        [Values(DType.F32, DType.BF16, DType.F16)] DType storage)
    {
        using var checkpoint = TinyCheckpoints.Create(variant, new TinyCheckpointOptions { Layers = 4 });
        StreamedTraining resident, streamed;
        using (var device = Emulated()) resident = StreamedTraining.Run(checkpoint.Folder, device, storage, null);
        using (var device = Emulated())
        using (var host = device.CreateHostBackend())
        {
            long budget = resident.DevicePeak - 1;
            streamed = StreamedTraining.Run(checkpoint.Folder, device, storage, new LayerStreaming(host, budget));
            Assert.That(streamed.DevicePeak, Is.LessThanOrEqualTo(budget), "below what the resident model holds");
        }

        Assert.That(streamed.ResultBits, Is.EqualTo(resident.ResultBits), "losses, g and the evaluation's log-probabilities");
        Assert.That(streamed.Weights, Is.EqualTo(resident.Weights), "stored weights after the updates");
    }

    [Test]
    public void StreamingWithTheFastNoiseArithmeticIsRefused()
    {
        using var device = Emulated(NoiseArithmetic.Fast);
        var e = Assert.Throws<InvalidInputException>(() => device.CreateHostBackend().Dispose());
        Assert.That(e!.Message, Does.Contain("MEZO_CUDA_NOISE=fast"));
    }
}
