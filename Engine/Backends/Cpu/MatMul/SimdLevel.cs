using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MeZO.Engine.Backends.Cpu.MatMul;

/// <summary>Which code the matrix product runs: chosen from the hardware, or named by tests to cover both.</summary>
internal enum SimdLevel
{
    /// <summary>Vector512 micro-kernel, in-register transposes while packing, the matrix-vector path for small M.</summary>
    Avx512,
    /// <summary>Vector256 micro-kernel and scalar packing: correct on any core, tuned for none.</summary>
    Portable,
}

internal static class SimdLevels
{
    public static SimdLevel Best { get; } =
        Avx512F.IsSupported && Vector512.IsHardwareAccelerated ? SimdLevel.Avx512 : SimdLevel.Portable;
}
