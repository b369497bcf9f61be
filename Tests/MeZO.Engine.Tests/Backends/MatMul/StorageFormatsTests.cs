using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MeZO.Engine.Backends.Cpu.MatMul;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.MatMul;

/// <summary>The vector widening of 16-bit weights against the scalar conversions, on every one of the 65536 bit
/// patterns: zeros, subnormals, normals, infinities and NaNs of both signs.</summary>
[TestFixture]
public sealed unsafe class StorageFormatsTests
{
    [SetUp]
    public void RequireAvx512()
    {
        if (!Avx512F.IsSupported) Assert.Ignore("no AVX-512 on this CPU: the vector widening is not used");
    }

    [Test]
    public void HalfWidensExactly() =>
        AssertEveryPattern<Float16Storage>(bits => ScalarConversions.HalfToSingle(bits));

    [Test]
    public void BFloat16WidensExactly() =>
        AssertEveryPattern<BFloat16Storage>(bits => ScalarConversions.BFloat16ToSingle(bits));

    private static void AssertEveryPattern<TFormat>(Func<ushort, float> scalar) where TFormat : struct, IStorageFormat
    {
        var patterns = new ushort[65536];
        for (int i = 0; i < patterns.Length; i++) patterns[i] = (ushort)i;
        var mismatches = new List<string>();
        fixed (ushort* p = patterns)
        {
            for (int i = 0; i < patterns.Length; i += 16)
            {
                Vector512<float> wide = TFormat.Load16(p, i);
                for (int lane = 0; lane < 16; lane++)
                {
                    float expected = scalar(patterns[i + lane]), actual = wide[lane];
                    bool same = float.IsNaN(expected)
                        ? float.IsNaN(actual)
                        : BitConverter.SingleToInt32Bits(actual) == BitConverter.SingleToInt32Bits(expected);
                    if (!same) mismatches.Add($"0x{i + lane:X4}: {actual} instead of {expected}");
                }
            }
        }
        Assert.That(mismatches, Is.Empty);
    }
}
