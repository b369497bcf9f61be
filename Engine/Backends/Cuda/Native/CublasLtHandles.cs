using System.Runtime.InteropServices;

namespace MeZO.Engine.Backends.Cuda.Native;

/// <summary>The cuBLASLt library handle. It works in the context current at creation, which it keeps alive.</summary>
internal sealed class CublasLtHandle : SafeHandle
{
    private readonly CudaContextHandle _context;

    private CublasLtHandle(CudaContextHandle context, nint raw) : base(0, ownsHandle: true)
    {
        bool added = false;
        context.DangerousAddRef(ref added);
        _context = context;
        SetHandle(raw);
    }

    public override bool IsInvalid => handle == 0;

    public nint Raw => handle;

    public static CublasLtHandle Create(CudaContextHandle context)
    {
        context.MakeCurrent();
        CudaException.ThrowIfFailed(CublasLt.cublasLtCreate(out nint raw));
        return new CublasLtHandle(context, raw);
    }

    protected override bool ReleaseHandle()
    {
        try
        {
            return _context.TryMakeCurrent() && CublasLt.cublasLtDestroy(handle) == CublasStatus.Success;
        }
        finally
        {
            _context.DangerousRelease();
        }
    }
}

/// <summary>A cuBLASLt descriptor (operation, matrix layout or search preference): host memory the library owns.</summary>
internal sealed class CublasLtDescriptorHandle : SafeHandle
{
    private readonly Func<nint, CublasStatus> _destroy;

    private CublasLtDescriptorHandle(nint raw, Func<nint, CublasStatus> destroy) : base(0, ownsHandle: true)
    {
        _destroy = destroy;
        SetHandle(raw);
    }

    public override bool IsInvalid => handle == 0;

    public nint Raw => handle;

    public static CublasLtDescriptorHandle Matmul(CublasComputeType compute)
    {
        CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulDescCreate(out nint raw, compute, CudaDataType.R32F));
        return new CublasLtDescriptorHandle(raw, CublasLt.cublasLtMatmulDescDestroy);
    }

    public static CublasLtDescriptorHandle Layout(CudaDataType type, long rows, long columns, long leadingDimension)
    {
        CudaException.ThrowIfFailed(CublasLt.cublasLtMatrixLayoutCreate(out nint raw, type, (ulong)rows, (ulong)columns, leadingDimension));
        return new CublasLtDescriptorHandle(raw, CublasLt.cublasLtMatrixLayoutDestroy);
    }

    public static CublasLtDescriptorHandle Preference()
    {
        CudaException.ThrowIfFailed(CublasLt.cublasLtMatmulPreferenceCreate(out nint raw));
        return new CublasLtDescriptorHandle(raw, CublasLt.cublasLtMatmulPreferenceDestroy);
    }

    protected override bool ReleaseHandle() => _destroy(handle) == CublasStatus.Success;
}
