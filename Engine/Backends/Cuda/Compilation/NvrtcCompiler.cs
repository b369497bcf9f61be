using System.Runtime.InteropServices;
using System.Text;
using MeZO.Engine.Backends.Cuda.Native;

namespace MeZO.Engine.Backends.Cuda.Compilation;

/// <summary>
/// Compiles the embedded kernel files with NVRTC. One program per file; every header is offered by name. Machine
/// code (nvrtcGetCUBIN) when NVRTC knows the target, else PTX. The ptxas log (registers, shared memory, spills)
/// comes back with the image.
/// </summary>
internal sealed class NvrtcCompiler
{
    /// <summary>Options every file gets: C++17, which the headers use.</summary>
    private static readonly string[] CommonOptions = ["-std=c++17"];

    private NvrtcCompiler(int major, int minor, IReadOnlyList<int> architectures, string path)
    {
        Major = major;
        Minor = minor;
        SupportedArchitectures = architectures;
        LibraryPath = path;
    }

    public int Major { get; }
    public int Minor { get; }
    public string Version => $"{Major}.{Minor}";

    /// <summary>Compute capabilities NVRTC can generate machine code for, e.g. 50 … 90.</summary>
    public IReadOnlyList<int> SupportedArchitectures { get; }

    public string LibraryPath { get; }

    /// <summary>Loads NVRTC, or returns null with a one-line reason (missing library, or older than 11.2).</summary>
    public static unsafe NvrtcCompiler? TryLoad(out string problem)
    {
        var probe = CudaLibraries.Probe(CudaLibrary.Nvrtc);
        if (!probe.Found)
        {
            problem = $"NVRTC is not installed: none of {probe.Describe()}";
            return null;
        }
        CudaException.ThrowIfFailed(Nvrtc.nvrtcVersion(out int major, out int minor));
        if (major < 11 || (major == 11 && minor < 2))
        {
            problem = $"NVRTC {major}.{minor} at {probe.Path} is too old: the engine needs 11.2 or newer (nvrtcGetCUBIN)";
            return null;
        }
        CudaException.ThrowIfFailed(Nvrtc.nvrtcGetNumSupportedArchs(out int count));
        var architectures = new int[count];
        fixed (int* p = architectures) CudaException.ThrowIfFailed(Nvrtc.nvrtcGetSupportedArchs(p));
        problem = "";
        return new NvrtcCompiler(major, minor, architectures, probe.Path!);
    }

    /// <summary>The option list for a file and target, in the order NVRTC gets it (also part of the cache key).</summary>
    public static IReadOnlyList<string> Options(KernelFile file, GpuArchitecture target)
    {
        var options = new List<string> { "--gpu-architecture=" + target.Option };
        options.AddRange(CommonOptions);
        if (target.MachineCode) options.Add("--ptxas-options=-v"); // registers, shared memory and spills into the log
        options.AddRange(file.Options);
        options.AddRange(file.Defines.Select(d => $"-D{d.Name}={d.Value}"));
        return options;
    }

    /// <summary>Compiles one file; a rejected file throws <see cref="KernelCompileException"/> with NVRTC's log.</summary>
    public CompiledKernelFile Compile(KernelFile file, GpuArchitecture target) => Compile(file, KernelSources.Source(file.Name), target);

    /// <summary>Compiles <paramref name="text"/> as the file <paramref name="file"/> names, with the embedded headers.</summary>
    public unsafe CompiledKernelFile Compile(KernelFile file, string text, GpuArchitecture target)
    {
        var headers = KernelSources.Headers;
        var options = Options(file, target);
        var pinned = new List<GCHandle>();
        try
        {
            byte* Utf8(string text)
            {
                var bytes = Encoding.UTF8.GetBytes(text + "\0");
                var handle = GCHandle.Alloc(bytes, GCHandleType.Pinned);
                pinned.Add(handle);
                return (byte*)handle.AddrOfPinnedObject();
            }

            byte* source = Utf8(text);
            byte* name = Utf8(file.Name);
            var headerSources = stackalloc byte*[headers.Count];
            var headerNames = stackalloc byte*[headers.Count];
            for (int i = 0; i < headers.Count; i++)
            {
                headerSources[i] = Utf8(headers[i].Value);
                headerNames[i] = Utf8(headers[i].Key);
            }
            var optionPointers = stackalloc byte*[options.Count];
            for (int i = 0; i < options.Count; i++) optionPointers[i] = Utf8(options[i]);

            using var program = NvrtcProgramHandle.Create(source, name, headers.Count, headerSources, headerNames);
            var compiled = Nvrtc.nvrtcCompileProgram(program.Raw, options.Count, optionPointers);
            string log = ReadLog(program);
            if (compiled == NvrtcResult.Compilation) throw new KernelCompileException(file.Name, target.Option, log);
            CudaException.ThrowIfFailed(compiled);
            return new CompiledKernelFile(file, target, target.MachineCode ? ReadCubin(program) : ReadPtx(program), log);
        }
        finally
        {
            foreach (var handle in pinned) handle.Free();
        }
    }

    private static unsafe string ReadLog(NvrtcProgramHandle program)
    {
        CudaException.ThrowIfFailed(Nvrtc.nvrtcGetProgramLogSize(program.Raw, out nuint size));
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes) CudaException.ThrowIfFailed(Nvrtc.nvrtcGetProgramLog(program.Raw, p));
        return Encoding.UTF8.GetString(bytes).TrimEnd('\0');
    }

    private static unsafe byte[] ReadCubin(NvrtcProgramHandle program)
    {
        CudaException.ThrowIfFailed(Nvrtc.nvrtcGetCUBINSize(program.Raw, out nuint size));
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes) CudaException.ThrowIfFailed(Nvrtc.nvrtcGetCUBIN(program.Raw, p));
        return bytes;
    }

    private static unsafe byte[] ReadPtx(NvrtcProgramHandle program)
    {
        CudaException.ThrowIfFailed(Nvrtc.nvrtcGetPTXSize(program.Raw, out nuint size)); // includes the final zero
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes) CudaException.ThrowIfFailed(Nvrtc.nvrtcGetPTX(program.Raw, p));
        return bytes;
    }
}
