namespace MeZO.Engine.Backends.Cuda.Native;

/// <summary>A loaded module: one compiled kernel file (cubin or PTX) and the functions in it.</summary>
internal sealed class CudaModuleHandle : ContextBoundHandle
{
    private CudaModuleHandle(CudaContextHandle context, nint raw) : base(context, raw)
    {
    }

    /// <summary>Loads an image; a PTX image must end with a zero byte (NVRTC's does).</summary>
    public static unsafe CudaModuleHandle Load(CudaContextHandle context, ReadOnlySpan<byte> image, string fileName)
    {
        fixed (byte* p = image)
        {
            var result = CudaDriver.cuModuleLoadData(out nint raw, p);
            if (result != CuResult.Success) throw CudaException.From(result, $"cuModuleLoadData({fileName})");
            return new CudaModuleHandle(context, raw);
        }
    }

    /// <summary>The function a kernel's extern "C" name denotes; valid while this module is alive.</summary>
    public nint Function(string name)
    {
        var result = CudaDriver.cuModuleGetFunction(out nint function, Raw, name);
        if (result != CuResult.Success) throw CudaException.From(result, $"cuModuleGetFunction({name})");
        return function;
    }

    protected override CuResult Destroy(nint raw) => CudaDriver.cuModuleUnload(raw);
}
