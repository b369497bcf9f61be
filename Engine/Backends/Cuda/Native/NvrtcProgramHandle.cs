using System.Runtime.InteropServices;

namespace MeZO.Engine.Backends.Cuda.Native;

/// <summary>An NVRTC program: one kernel file with its headers, compiled once, its log and image read back.</summary>
internal sealed class NvrtcProgramHandle : SafeHandle
{
    private NvrtcProgramHandle(nint raw) : base(0, ownsHandle: true) => SetHandle(raw);

    public override bool IsInvalid => handle == 0;

    public nint Raw => handle;

    public static unsafe NvrtcProgramHandle Create(byte* source, byte* name, int headerCount, byte** headers, byte** includeNames)
    {
        CudaException.ThrowIfFailed(Nvrtc.nvrtcCreateProgram(out nint raw, source, name, headerCount, headers, includeNames));
        return new NvrtcProgramHandle(raw);
    }

    protected override bool ReleaseHandle()
    {
        nint program = handle;
        return Nvrtc.nvrtcDestroyProgram(ref program) == NvrtcResult.Success;
    }
}
