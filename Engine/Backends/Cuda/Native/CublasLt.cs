using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MeZO.Engine.Backends.Cuda.Native;

/// <summary>cublasStatus_t (cublas_api.h).</summary>
internal enum CublasStatus
{
    Success = 0,
    NotInitialized = 1,
    AllocFailed = 3,
    InvalidValue = 7,
    ArchMismatch = 8,
    MappingError = 11,
    ExecutionFailed = 13,
    InternalError = 14,
    NotSupported = 15,
    LicenseError = 16,
}

/// <summary>cudaDataType (library_types.h), the element types the engine hands to cuBLASLt.</summary>
internal enum CudaDataType
{
    R32F = 0,
    R16F = 2,
    R16BF = 14,
}

/// <summary>cublasComputeType_t (cublas_api.h).</summary>
internal enum CublasComputeType
{
    Compute32F = 68,
    Compute32FFastTF32 = 77,
}

internal enum CublasOperation
{
    None = 0,
    Transpose = 1,
}

/// <summary>cublasLtMatmulDescAttributes_t values the engine sets (cublasLt.h).</summary>
internal enum MatmulDescAttribute
{
    TransA = 3,
    TransB = 4,
    Epilogue = 7,
    BiasPointer = 8,
    BiasDataType = 26,
}

/// <summary>
/// cublasLtEpilogue_t: DEFAULT = 1, BIAS = 4 (add a bias vector per row of D, to the accumulator before D's rounding; of
/// D's type unless <see cref="MatmulDescAttribute.BiasDataType"/> names another), RELU = 2 and RELU_BIAS = 6 (bias, then
/// max(0, ·), still before the rounding).
/// </summary>
internal enum CublasLtEpilogue
{
    Default = 1,
    Relu = 2,
    Bias = 4,
    ReluBias = 6,
}

/// <summary>cublasLtMatmulPreferenceAttributes_t values the engine sets.</summary>
internal enum MatmulPreferenceAttribute
{
    MaxWorkspaceBytes = 1,
    MinAlignmentABytes = 5,
    MinAlignmentBBytes = 6,
    MinAlignmentCBytes = 7,
    MinAlignmentDBytes = 8,
}

/// <summary>cublasLtMatmulAlgo_t: 64 opaque bytes the heuristic fills in and the product reads back.</summary>
[InlineArray(8)]
internal struct CublasLtMatmulAlgo
{
    private ulong _data;
}

/// <summary>cublasLtMatmulHeuristicResult_t (96 bytes; a layout test checks the size and offsets).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CublasLtHeuristicResult
{
    public CublasLtMatmulAlgo Algo;
    public nuint WorkspaceSize;
    public CublasStatus State;
    public float WavesCount;
    public Reserved4 Reserved;

    [InlineArray(4)]
    public struct Reserved4
    {
        private int _value;
    }
}

/// <summary>
/// cuBLASLt (cublasLt.h), the matrix-product library: descriptors for the operation, the three matrix layouts and the
/// search preferences, a heuristic that picks an algorithm once per shape, and the product itself with a bias
/// epilogue. Optional: where it is missing, the NVRTC kernels compute the products.
/// </summary>
internal static unsafe partial class CublasLt
{
    static CublasLt() => CudaLibraries.InstallResolver();

    [LibraryImport(CudaLibraries.CublasLtImport)]
    public static partial CublasStatus cublasLtCreate(out nint handle);

    [LibraryImport(CudaLibraries.CublasLtImport)]
    public static partial CublasStatus cublasLtDestroy(nint handle);

    [LibraryImport(CudaLibraries.CublasLtImport)]
    public static partial nuint cublasLtGetVersion();

    [LibraryImport(CudaLibraries.CublasLtImport)]
    public static partial nint cublasLtGetStatusString(CublasStatus status);

    [LibraryImport(CudaLibraries.CublasLtImport)]
    public static partial CublasStatus cublasLtMatmulDescCreate(out nint descriptor, CublasComputeType compute, CudaDataType scale);

    [LibraryImport(CudaLibraries.CublasLtImport)]
    public static partial CublasStatus cublasLtMatmulDescDestroy(nint descriptor);

    [LibraryImport(CudaLibraries.CublasLtImport)]
    public static partial CublasStatus cublasLtMatmulDescSetAttribute(nint descriptor, MatmulDescAttribute attribute,
        void* value, nuint size);

    [LibraryImport(CudaLibraries.CublasLtImport)]
    public static partial CublasStatus cublasLtMatrixLayoutCreate(out nint layout, CudaDataType type, ulong rows, ulong columns,
        long leadingDimension);

    [LibraryImport(CudaLibraries.CublasLtImport)]
    public static partial CublasStatus cublasLtMatrixLayoutDestroy(nint layout);

    [LibraryImport(CudaLibraries.CublasLtImport)]
    public static partial CublasStatus cublasLtMatmulPreferenceCreate(out nint preference);

    [LibraryImport(CudaLibraries.CublasLtImport)]
    public static partial CublasStatus cublasLtMatmulPreferenceDestroy(nint preference);

    [LibraryImport(CudaLibraries.CublasLtImport)]
    public static partial CublasStatus cublasLtMatmulPreferenceSetAttribute(nint preference, MatmulPreferenceAttribute attribute,
        void* value, nuint size);

    [LibraryImport(CudaLibraries.CublasLtImport)]
    public static partial CublasStatus cublasLtMatmulAlgoGetHeuristic(nint handle, nint descriptor, nint aLayout, nint bLayout,
        nint cLayout, nint dLayout, nint preference, int requested, CublasLtHeuristicResult* results, out int returned);

    [LibraryImport(CudaLibraries.CublasLtImport)]
    public static partial CublasStatus cublasLtMatmul(nint handle, nint descriptor, void* alpha, nint a, nint aLayout, nint b,
        nint bLayout, void* beta, nint c, nint cLayout, nint d, nint dLayout, CublasLtMatmulAlgo* algo, nint workspace,
        nuint workspaceBytes, nint stream);

    /// <summary>"CUBLAS_STATUS_NOT_SUPPORTED (…)" for a status.</summary>
    public static string ErrorName(CublasStatus status)
    {
        string name = status switch
        {
            CublasStatus.NotInitialized => "CUBLAS_STATUS_NOT_INITIALIZED",
            CublasStatus.AllocFailed => "CUBLAS_STATUS_ALLOC_FAILED",
            CublasStatus.InvalidValue => "CUBLAS_STATUS_INVALID_VALUE",
            CublasStatus.ArchMismatch => "CUBLAS_STATUS_ARCH_MISMATCH",
            CublasStatus.MappingError => "CUBLAS_STATUS_MAPPING_ERROR",
            CublasStatus.ExecutionFailed => "CUBLAS_STATUS_EXECUTION_FAILED",
            CublasStatus.InternalError => "CUBLAS_STATUS_INTERNAL_ERROR",
            CublasStatus.NotSupported => "CUBLAS_STATUS_NOT_SUPPORTED",
            CublasStatus.LicenseError => "CUBLAS_STATUS_LICENSE_ERROR",
            _ => $"cublasStatus {(int)status}",
        };
        return name;
    }

    /// <summary>The library's own description of a status (cuBLASLt 11.4 and newer have one).</summary>
    public static string ErrorDescription(CublasStatus status)
    {
        try
        {
            return cublasLtGetStatusString(status) is var text and not 0 ? Marshal.PtrToStringUTF8(text) ?? "" : "";
        }
        catch (EntryPointNotFoundException)
        {
            return ""; // an older cuBLASLt: the name alone must do
        }
    }
}
