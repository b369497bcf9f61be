using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cpu.MatMul;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.MatMul;

/// <summary>
/// MeZO's projected gradient is (L+ − L−)/2ε from two forward passes: their difference is only meaningful if equal
/// inputs give equal outputs bit for bit, however the cores happen to be scheduled.
/// </summary>
[TestFixture]
public sealed class LinearDeterminismTests
{
    private CpuBackend _backend = null!;

    [OneTimeSetUp]
    public void CreateBackend() => _backend = new CpuBackend();

    [OneTimeTearDown]
    public void DisposeBackend() => _backend.Dispose();

    /// <summary>Both paths, each big enough to be split over all cores in several work items.</summary>
    [TestCase(300, 700, 600, DType.BF16, false, TestName = "Packed, (N,K) BF16 weight")]
    [TestCase(129, 900, 515, DType.F32, true, TestName = "Packed, (K,N) F32 weight")]
    [TestCase(3, 3000, 600, DType.F16, false, TestName = "Streaming, (N,K) F16 weight")]
    [TestCase(2, 3000, 700, DType.F32, true, TestName = "Streaming, (K,N) F32 weight")]
    public void RepeatedCallsAreBitIdentical(int m, int n, int k, DType weightType, bool transposed)
    {
        using var problem = new LinearProblem(_backend, [m, k], n, weightType, withBias: true, seed: 11);
        float[] first = problem.Run(transposed, SimdLevels.Best);
        for (int call = 1; call < 5; call++)
        {
            float[] again = problem.Run(transposed, SimdLevels.Best);
            int differing = Enumerable.Range(0, first.Length).Count(i =>
                BitConverter.SingleToInt32Bits(first[i]) != BitConverter.SingleToInt32Bits(again[i]));
            Assert.That(differing, Is.Zero, $"call {call + 1} differs from the first in {differing} of {first.Length} outputs");
        }
    }

    /// <summary>The portable kernel is the AVX-512 kernel's twin: the same FMA chain per element, so the same bits —
    /// a CPU without AVX-512 trains exactly as this one does.</summary>
    [Test]
    public void PackedPathsAgreeBitForBit([Values(false, true)] bool transposed)
    {
        if (!(Avx512F.IsSupported && Vector512.IsHardwareAccelerated)) Assert.Ignore("no AVX-512 on this CPU: one path only");
        using var problem = new LinearProblem(_backend, [45, 520], 77, DType.BF16, withBias: true, seed: 5);
        float[] wide = problem.Run(transposed, SimdLevel.Avx512);
        float[] portable = problem.Run(transposed, SimdLevel.Portable);
        Assert.That(portable.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(wide.Select(BitConverter.SingleToInt32Bits)));
    }
}
