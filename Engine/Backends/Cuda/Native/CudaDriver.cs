using System.Runtime.InteropServices;

namespace MeZO.Engine.Backends.Cuda.Native;

/// <summary>
/// The CUDA driver API (libcuda.so.1) as the engine uses it: one context (the device's primary context), one stream,
/// modules loaded from NVRTC images. Every call returns a <see cref="CuResult"/> that goes through
/// <see cref="CudaException.ThrowIfFailed(CuResult, string)"/>. Versioned symbols (_v2) are the ones cuda.h maps the
/// plain names to, the same in CUDA 11.8, 12.x and 13.0 (CudaHeaderAbiTests compares every declaration here with the
/// installed cuda.h); a driver keeps exporting every version it ever mapped, so all exist in any driver for sm_80.
/// </summary>
internal static unsafe partial class CudaDriver
{
    static CudaDriver() => CudaLibraries.InstallResolver();

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuInit(uint flags);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuDriverGetVersion(out int version);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuGetErrorName(CuResult error, out nint name);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuGetErrorString(CuResult error, out nint description);

    // Devices

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuDeviceGetCount(out int count);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuDeviceGet(out int device, int ordinal);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuDeviceGetName(byte* name, int length, int device);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuDeviceGetAttribute(out int value, CuDeviceAttribute attribute, int device);

    [LibraryImport(CudaLibraries.DriverImport, EntryPoint = "cuDeviceTotalMem_v2")]
    public static partial CuResult cuDeviceTotalMem(out nuint bytes, int device);

    // The primary context: shared with any other library in the process (cuBLASLt uses the current one).

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuDevicePrimaryCtxRetain(out nint context, int device);

    [LibraryImport(CudaLibraries.DriverImport, EntryPoint = "cuDevicePrimaryCtxRelease_v2")]
    public static partial CuResult cuDevicePrimaryCtxRelease(int device);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuCtxSetCurrent(nint context);

    // Memory

    [LibraryImport(CudaLibraries.DriverImport, EntryPoint = "cuMemAlloc_v2")]
    public static partial CuResult cuMemAlloc(out ulong address, nuint bytes);

    [LibraryImport(CudaLibraries.DriverImport, EntryPoint = "cuMemFree_v2")]
    public static partial CuResult cuMemFree(ulong address);

    [LibraryImport(CudaLibraries.DriverImport, EntryPoint = "cuMemAllocHost_v2")]
    public static partial CuResult cuMemAllocHost(out nint pointer, nuint bytes);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuMemFreeHost(nint pointer);

    [LibraryImport(CudaLibraries.DriverImport, EntryPoint = "cuMemcpyHtoDAsync_v2")]
    public static partial CuResult cuMemcpyHtoDAsync(ulong destination, void* source, nuint bytes, nint stream);

    [LibraryImport(CudaLibraries.DriverImport, EntryPoint = "cuMemcpyDtoHAsync_v2")]
    public static partial CuResult cuMemcpyDtoHAsync(void* destination, ulong source, nuint bytes, nint stream);

    [LibraryImport(CudaLibraries.DriverImport, EntryPoint = "cuMemcpyDtoDAsync_v2")]
    public static partial CuResult cuMemcpyDtoDAsync(ulong destination, ulong source, nuint bytes, nint stream);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuMemsetD8Async(ulong destination, byte value, nuint count, nint stream);

    [LibraryImport(CudaLibraries.DriverImport, EntryPoint = "cuMemGetInfo_v2")]
    public static partial CuResult cuMemGetInfo(out nuint free, out nuint total);

    // Modules and launches

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuModuleLoadData(out nint module, void* image);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuModuleUnload(nint module);

    [LibraryImport(CudaLibraries.DriverImport, StringMarshalling = StringMarshalling.Utf8)]
    public static partial CuResult cuModuleGetFunction(out nint function, nint module, string name);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuFuncSetAttribute(nint function, CuFunctionAttribute attribute, int value);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuLaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX,
        uint blockY, uint blockZ, uint sharedBytes, nint stream, void** parameters, void** extra);

    // Streams and events

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuStreamCreate(out nint stream, uint flags);

    [LibraryImport(CudaLibraries.DriverImport, EntryPoint = "cuStreamDestroy_v2")]
    public static partial CuResult cuStreamDestroy(nint stream);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuStreamSynchronize(nint stream);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuEventCreate(out nint cuEvent, uint flags);

    [LibraryImport(CudaLibraries.DriverImport, EntryPoint = "cuEventDestroy_v2")]
    public static partial CuResult cuEventDestroy(nint cuEvent);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuEventRecord(nint cuEvent, nint stream);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuEventSynchronize(nint cuEvent);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuStreamWaitEvent(nint stream, nint cuEvent, uint flags);

    // Graphs: a stream's work captured once and replayed with one launch.

    [LibraryImport(CudaLibraries.DriverImport, EntryPoint = "cuStreamBeginCapture_v2")]
    public static partial CuResult cuStreamBeginCapture(nint stream, CuStreamCaptureMode mode);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuStreamEndCapture(nint stream, out nint graph);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuGraphInstantiateWithFlags(out nint graphExec, nint graph, ulong flags);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuGraphLaunch(nint graphExec, nint stream);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuGraphDestroy(nint graph);

    [LibraryImport(CudaLibraries.DriverImport)]
    public static partial CuResult cuGraphExecDestroy(nint graphExec);

    /// <summary>"CUDA_ERROR_OUT_OF_MEMORY" for a code (or "CUresult 1234" when the driver does not know it).</summary>
    public static string ErrorName(CuResult result) =>
        cuGetErrorName(result, out nint name) == CuResult.Success && name != 0
            ? Marshal.PtrToStringUTF8(name) ?? $"CUresult {(int)result}"
            : $"CUresult {(int)result}";

    /// <summary>The driver's one-line description of a code.</summary>
    public static string ErrorDescription(CuResult result) =>
        cuGetErrorString(result, out nint text) == CuResult.Success && text != 0
            ? Marshal.PtrToStringUTF8(text) ?? "" : "";
}
