using MeZO.Tests.Common;
using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Mezo;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda.Emulation;

/// <summary>
/// A MeZO update beyond a 16-bit dtype's range, found by a kernel that cannot throw: raised at the next
/// synchronisation as the CPU's OverflowException, naming the tensor among several updated before it, then cleared.
/// </summary>
[Category("HostKernels")]
[Category(TestSpeed.Slow)]
public class EmulatedFaultTests
{
    [TestCase(DType.BF16, 3.38e38f)]
    [TestCase(DType.F16, 65504f)]
    public void AnOverflowingUpdateIsRaisedAtTheNextSynchronisationNamingTheTensor(DType type, float near)
    {
        using var gpu = new CudaBackend(new EmulatedRuntime(80), new CudaBackendOptions(), new MemoryReport());
        using var fine = Upload(gpu, "layers.0.fine.weight", type, [1f, -2f, 0.5f]);
        using var huge = Upload(gpu, "layers.1.huge.weight", type, [1f, near, 2f]);
        var grow = new UpdateFactors(Decay: 1.5f, Step: 0f);
        gpu.MezoUpdate(fine, new TensorNoise(1, 0), grow);
        gpu.MezoUpdate(huge, new TensorNoise(1, 3), grow);

        var error = Assert.Throws<OverflowException>(gpu.Synchronize)!;
        Assert.That(error.Message, Does.StartWith("the MeZO update of 'layers.1.huge.weight' overflows"));
        Assert.That(error.Message, Does.Contain($"(element 1) is beyond the largest finite {type} value"));
        Assert.That(gpu.Synchronize, Throws.Nothing, "the fault is cleared once raised");

        gpu.MezoUpdate(fine, new TensorNoise(1, 0), grow);
        gpu.Synchronize();
        var bits = new ushort[3];
        gpu.Download<ushort>(fine, bits);
        Assert.That(bits, Is.EqualTo(new[] { 2.25f, -4.5f, 1.125f }.Select(v => Bits(type, v))), "updates go on after the fault");
    }

    private static Tensor Upload(IBackend backend, string name, DType type, float[] values)
    {
        var t = backend.Allocate(new TensorShape(values.Length), type, MemoryCategory.Weights, name);
        backend.Upload<ushort>(t, values.Select(v => Bits(type, v)).ToArray());
        return t;
    }

    private static ushort Bits(DType type, float v) =>
        type == DType.F16 ? ScalarConversions.SingleToHalf(v) : ScalarConversions.SingleToBFloat16(v);
}
