using System.Runtime.InteropServices;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Tests.Backends.Cuda;

/// <summary>The host build of Kernels/*.cuh's pure device functions (device_functions.cpp), callable from C#.</summary>
internal static unsafe class HostDeviceFunctions
{
    private static nint Library => HostCompiler.Build("mezo-device-functions", [Path.Combine(HostCompiler.SourceFolder(), "device_functions.cpp")]);

    private static nint Export(string name) => NativeLibrary.GetExport(Library, name);

    public static (uint, uint, uint, uint) Philox(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        uint* x = stackalloc uint[4];
        ((delegate* unmanaged<uint, uint, uint, uint, uint, uint, uint*, void>)Export("host_philox"))(c0, c1, c2, c3, k0, k1, x);
        return (x[0], x[1], x[2], x[3]);
    }

    public static double[] Uniform(uint[] x) => Map<uint, double>("host_uniform", x);
    public static double[] LogExact(double[] u) => Map<double, double>("host_log_exact", u);
    public static float[] LogFast(uint[] x) => Map<uint, float>("host_log_fast", x);

    public static (double[] Sin, double[] Cos) SinCosExact(uint[] x)
    {
        var s = new double[x.Length];
        var c = new double[x.Length];
        fixed (uint* px = x)
        fixed (double* ps = s, pc = c)
            ((delegate* unmanaged<uint*, double*, double*, long, void>)Export("host_sincos_exact"))(px, ps, pc, x.Length);
        return (s, c);
    }

    public static (float[] Sin, float[] Cos) SinCosFast(uint[] x)
    {
        var s = new float[x.Length];
        var c = new float[x.Length];
        fixed (uint* px = x)
        fixed (float* ps = s, pc = c)
            ((delegate* unmanaged<uint*, float*, float*, long, void>)Export("host_sincos_fast"))(px, ps, pc, x.Length);
        return (s, c);
    }

    public static (float, float) BoxMuller(bool fast, uint a, uint b)
    {
        float* z = stackalloc float[2];
        ((delegate* unmanaged<int, uint, uint, float*, void>)Export("host_box_muller"))(fast ? 1 : 0, a, b, z);
        return (z[0], z[1]);
    }

    public static float[] Z(bool fast, ulong seed, ulong first, int count)
    {
        var z = new float[count];
        fixed (float* p = z) ((delegate* unmanaged<int, ulong, ulong, float*, long, void>)Export("host_z"))(fast ? 1 : 0, seed, first, p, count);
        return z;
    }

    public static ushort[] FloatToBFloat16(float[] values) => Map<float, ushort>("host_float_to_bf16", values);
    public static float[] BFloat16ToFloat(ushort[] bits) => Map<ushort, float>("host_bf16_to_float", bits);
    public static ushort[] FloatToHalf(float[] values) => Map<float, ushort>("host_float_to_half", values);
    public static float[] HalfToFloat(ushort[] bits) => Map<ushort, float>("host_half_to_float", bits);

    public static ulong BlockCount(ulong first, ulong n) =>
        ((delegate* unmanaged<ulong, ulong, ulong>)Export("host_block_count"))(first, n);

    /// <summary>The stochastic-rounding draws k of global elements [first, first + count) under a step seed.</summary>
    public static uint[] RoundingDraws(ulong seed, ulong first, int count)
    {
        var k = new uint[count];
        fixed (uint* p = k) ((delegate* unmanaged<ulong, ulong, uint*, long, void>)Export("host_rounding_draws"))(seed, first, p, count);
        return k;
    }

    /// <summary>Each v rounded to F16 or BF16 with its draw: the stored bits, or null where the bracket includes an infinity.</summary>
    public static ushort?[] RoundStochastic(DType type, float[] values, uint[] draws)
    {
        var stored = new ushort[values.Length];
        var ok = new int[values.Length];
        fixed (float* v = values)
        fixed (uint* k = draws)
        fixed (ushort* s = stored)
        fixed (int* o = ok)
            ((delegate* unmanaged<int, float*, uint*, ushort*, int*, long, void>)Export("host_round_stochastic"))((int)type, v, k, s, o, values.Length);
        return stored.Select((bits, i) => ok[i] != 0 ? bits : (ushort?)null).ToArray();
    }

    /// <summary>The perturbed-copy kernels' per-thread body over every block: destination = w + scale·z in float32.</summary>
    public static void PerturbedCopy(DType type, bool fast, ReadOnlySpan<byte> weights, Span<float> destination, long n, ulong first,
        ulong seed, float scale, bool vectorized)
    {
        fixed (byte* w = weights)
        fixed (float* d = destination)
            ((delegate* unmanaged<int, int, byte*, float*, ulong, ulong, ulong, float, int, void>)Export("host_perturbed_copy"))(
                (int)type, fast ? 1 : 0, w, d, (ulong)n, first, seed, scale, vectorized ? 1 : 0);
    }

    /// <summary>
    /// The update kernels' per-thread body over every block of a host buffer of raw storage bits, in place: the first
    /// element whose result overflows the dtype (and that result), or null.
    /// </summary>
    public static (long Element, float Value)? Update(DType type, bool fast, Span<byte> weights, long n, ulong first, ulong seed,
        float decay, float step, bool vectorized)
    {
        float value = 0;
        long element;
        fixed (byte* w = weights)
            element = ((delegate* unmanaged<int, int, byte*, ulong, ulong, ulong, float, float, int, float*, long>)Export("host_update"))(
                (int)type, fast ? 1 : 0, w, (ulong)n, first, seed, decay, step, vectorized ? 1 : 0, &value);
        return element < 0 ? null : (element, value);
    }

    private static TOut[] Map<TIn, TOut>(string name, TIn[] input) where TIn : unmanaged where TOut : unmanaged
    {
        var output = new TOut[input.Length];
        fixed (TIn* pi = input)
        fixed (TOut* po = output)
            ((delegate* unmanaged<TIn*, TOut*, long, void>)Export(name))(pi, po, input.Length);
        return output;
    }
}
