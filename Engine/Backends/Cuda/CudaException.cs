using System.Runtime.CompilerServices;
using MeZO.Engine.Backends.Cuda.Native;

namespace MeZO.Engine.Backends.Cuda;

/// <summary>
/// A failed call into the CUDA driver, NVRTC or cuBLASLt: the call as written in the source, the library's error
/// name and description, and a hint on what to do about it.
/// </summary>
public sealed class CudaException : Exception
{
    private CudaException(string call, string errorName, int code, string description, string hint)
        : base($"{call} failed: {errorName}{(description.Length > 0 ? $" ({description})" : "")}{(hint.Length > 0 ? $". Hint: {hint}" : "")}")
    {
        Call = call;
        ErrorName = errorName;
        Code = code;
    }

    /// <summary>The failing call, e.g. "CudaDriver.cuMemAlloc(out ulong address, (nuint)bytes)".</summary>
    public string Call { get; }

    /// <summary>The library's name for the status, e.g. CUDA_ERROR_OUT_OF_MEMORY.</summary>
    public string ErrorName { get; }

    /// <summary>The raw status code.</summary>
    public int Code { get; }

    internal static void ThrowIfFailed(CuResult status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != CuResult.Success) throw From(status, call);
    }

    internal static CudaException From(CuResult status, string call) =>
        new(call, CudaDriver.ErrorName(status), (int)status, CudaDriver.ErrorDescription(status), Hint(status));

    internal static void ThrowIfFailed(NvrtcResult status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != NvrtcResult.Success)
            throw new CudaException(call, Nvrtc.ErrorName(status), (int)status, "", status switch
            {
                NvrtcResult.InvalidOption => "this NVRTC does not accept an option the engine passes; use NVRTC 11.2 or newer",
                NvrtcResult.BuiltinOperationFailure =>
                    "NVRTC could not open its libnvrtc-builtins.so of the same version; it must sit in libnvrtc's folder",
                _ => "",
            });
    }

    internal static void ThrowIfFailed(CublasStatus status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != CublasStatus.Success)
            throw new CudaException(call, CublasLt.ErrorName(status), (int)status, CublasLt.ErrorDescription(status), status switch
            {
                CublasStatus.NotSupported or CublasStatus.ArchMismatch =>
                    "cuBLASLt has no algorithm for this shape or type on this GPU; MEZO_CUDA_MATMUL=kernels avoids cuBLASLt",
                CublasStatus.NotInitialized => "cuBLASLt could not start on this device (driver too old for the library?)",
                _ => "",
            });
    }

    private static string Hint(CuResult status) => status switch
    {
        CuResult.OutOfMemory => "the model, batch or sequence length needs more device memory than is free; " +
                                "reduce --batch-size or the length, or use --dtype bf16",
        CuResult.NoDevice => "no CUDA GPU is visible to this process (check nvidia-smi and CUDA_VISIBLE_DEVICES)",
        CuResult.SystemDriverMismatch or CuResult.CompatNotSupportedOnDevice =>
            "the NVIDIA driver is older than this CUDA component needs; update the driver",
        CuResult.NoBinaryForGpu or CuResult.InvalidImage =>
            "the compiled kernel is not for this GPU; delete the kernel cache (~/.cache/mezo/kernels) and retry",
        CuResult.InvalidPtx or CuResult.UnsupportedPtxVersion or CuResult.JitCompilerNotFound =>
            "NVRTC is newer than the driver; point MEZO_CUDA_LIBRARY_PATH at an NVRTC no newer than the driver's CUDA version",
        CuResult.IllegalAddress or CuResult.MisalignedAddress or CuResult.InvalidAddressSpace or CuResult.LaunchFailed =>
            "a kernel touched memory outside its buffers, a bug. The CUDA context is now unusable (every later call fails " +
            "with this error, possibly at an unrelated call): restart the process; run 'mezo verify --backend cuda' and report its output",
        CuResult.Assert or CuResult.HardwareStackError or CuResult.IllegalInstruction or CuResult.InvalidPc =>
            "a kernel stopped on the GPU (a device-side assertion, trap or fault), a bug. The CUDA context is now unusable: " +
            "restart the process; run 'mezo verify --backend cuda' and report its output",
        CuResult.LaunchOutOfResources => "a kernel asked for more registers or shared memory than the GPU has: a bug",
        CuResult.StreamCaptureUnsupported or CuResult.StreamCaptureInvalidated =>
            "an operation that cannot be captured ran during CUDA graph capture (an upload, download or allocation)",
        _ => "",
    };
}
