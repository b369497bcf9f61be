using System.Runtime.InteropServices;

namespace MeZO.Engine.Backends.Cuda.Runtime;

/// <summary>A grid or block size.</summary>
internal readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    public override string ToString() => $"({X}, {Y}, {Z})";
}

/// <summary>How a kernel is launched: grid, block and dynamic shared memory.</summary>
internal readonly record struct LaunchShape(Dim3 Grid, Dim3 Block, int SharedBytes = 0)
{
    /// <summary>Threads per block for the element-wise, row and reduction kernels (eight warps).</summary>
    public const int Threads = 256;

    /// <summary>Grid-stride kernels need no more blocks than this to fill any GPU (a cap keeps the grid legal).</summary>
    private const long MaxStridingBlocks = 65536;

    /// <summary>The driver's limits on gridDim.x (2³¹ − 1) and on gridDim.y and gridDim.z.</summary>
    public const long MaxGridX = int.MaxValue, MaxGridYZ = ushort.MaxValue;

    /// <summary>A grid-stride loop over <paramref name="count"/> items, one per thread per pass.</summary>
    public static LaunchShape Striding(long count) =>
        new(new Dim3((uint)Math.Clamp((count + Threads - 1) / Threads, 1, MaxStridingBlocks)), new Dim3(Threads));

    /// <summary>One block per row, its threads striding over the row (whole warps, at most 256).</summary>
    public static LaunchShape PerRow(long rows, int width) => rows <= MaxGridX
        ? new(new Dim3((uint)rows), new Dim3((uint)Math.Clamp((width + 31) / 32 * 32, 32, Threads)))
        : throw new NotSupportedException($"{rows} rows exceed the {MaxGridX} blocks of a CUDA grid (one block per row)");
}

/// <summary>The C type of a kernel parameter, as far as packing an argument for it goes.</summary>
internal enum KernelArgumentKind : byte
{
    /// <summary>Any pointer (a device address).</summary>
    Pointer,
    /// <summary>int.</summary>
    I32,
    /// <summary>long long (mezo_i64).</summary>
    I64,
    /// <summary>unsigned long long (mezo_u64).</summary>
    U64,
    /// <summary>float.</summary>
    F32,
}

/// <summary>
/// One kernel argument as the driver reads it: cuLaunchKernel takes a pointer to each value and reads as many bytes
/// as the parameter's type has, so every value sits in the low bytes of an 8-byte slot (little-endian) at the start of
/// the argument. The kind says which C type the value is for; cuLaunchKernel cannot check it, the host emulation of
/// the kernels does (every launch against the kernel's own parameter list).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly struct KernelArgument
{
    private KernelArgument(ulong bits, KernelArgumentKind kind)
    {
        Bits = bits;
        Kind = kind;
    }

    /// <summary>The value's bytes; first in the struct, so an argument's address is its value's address.</summary>
    public ulong Bits { get; }

    public KernelArgumentKind Kind { get; }

    public static KernelArgument Pointer(nint address) => new((ulong)address, KernelArgumentKind.Pointer);
    public static KernelArgument I32(int value) => new((uint)value, KernelArgumentKind.I32);
    public static KernelArgument I64(long value) => new((ulong)value, KernelArgumentKind.I64);
    public static KernelArgument U64(ulong value) => new(value, KernelArgumentKind.U64);
    public static KernelArgument F32(float value) => new(BitConverter.SingleToUInt32Bits(value), KernelArgumentKind.F32);
}
