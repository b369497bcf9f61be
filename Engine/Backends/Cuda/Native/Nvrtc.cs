using System.Runtime.InteropServices;

namespace MeZO.Engine.Backends.Cuda.Native;

/// <summary>nvrtcResult (nvrtc.h).</summary>
internal enum NvrtcResult
{
    Success = 0,
    OutOfMemory = 1,
    ProgramCreationFailure = 2,
    InvalidInput = 3,
    InvalidProgram = 4,
    InvalidOption = 5,
    Compilation = 6,
    BuiltinOperationFailure = 7,
    NoNameExpressionsAfterCompilation = 8,
    NoLoweredNamesBeforeCompilation = 9,
    NameExpressionNotValid = 10,
    InternalError = 11,
}

/// <summary>
/// NVRTC, CUDA's run-time compiler (nvrtc.h), from 11.2 on: the first version with nvrtcGetCUBIN and the supported
/// architecture list, which the engine needs to compile straight to machine code for the device.
/// </summary>
internal static unsafe partial class Nvrtc
{
    static Nvrtc() => CudaLibraries.InstallResolver();

    [LibraryImport(CudaLibraries.NvrtcImport)]
    public static partial NvrtcResult nvrtcVersion(out int major, out int minor);

    [LibraryImport(CudaLibraries.NvrtcImport)]
    public static partial NvrtcResult nvrtcGetNumSupportedArchs(out int count);

    [LibraryImport(CudaLibraries.NvrtcImport)]
    public static partial NvrtcResult nvrtcGetSupportedArchs(int* architectures);

    [LibraryImport(CudaLibraries.NvrtcImport)]
    public static partial NvrtcResult nvrtcCreateProgram(out nint program, byte* source, byte* name, int headerCount,
        byte** headers, byte** includeNames);

    [LibraryImport(CudaLibraries.NvrtcImport)]
    public static partial NvrtcResult nvrtcDestroyProgram(ref nint program);

    [LibraryImport(CudaLibraries.NvrtcImport)]
    public static partial NvrtcResult nvrtcCompileProgram(nint program, int optionCount, byte** options);

    [LibraryImport(CudaLibraries.NvrtcImport)]
    public static partial NvrtcResult nvrtcGetProgramLogSize(nint program, out nuint size);

    [LibraryImport(CudaLibraries.NvrtcImport)]
    public static partial NvrtcResult nvrtcGetProgramLog(nint program, byte* log);

    [LibraryImport(CudaLibraries.NvrtcImport)]
    public static partial NvrtcResult nvrtcGetPTXSize(nint program, out nuint size);

    [LibraryImport(CudaLibraries.NvrtcImport)]
    public static partial NvrtcResult nvrtcGetPTX(nint program, byte* ptx);

    [LibraryImport(CudaLibraries.NvrtcImport)]
    public static partial NvrtcResult nvrtcGetCUBINSize(nint program, out nuint size);

    [LibraryImport(CudaLibraries.NvrtcImport)]
    public static partial NvrtcResult nvrtcGetCUBIN(nint program, byte* cubin);

    [LibraryImport(CudaLibraries.NvrtcImport)]
    public static partial nint nvrtcGetErrorString(NvrtcResult result);

    /// <summary>"NVRTC_ERROR_COMPILATION" for a code.</summary>
    public static string ErrorName(NvrtcResult result) =>
        nvrtcGetErrorString(result) is var text and not 0 ? Marshal.PtrToStringUTF8(text) ?? $"nvrtcResult {(int)result}"
            : $"nvrtcResult {(int)result}";
}
