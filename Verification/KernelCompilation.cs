using MeZO.Engine;
using MeZO.Engine.Backends.Cuda.Compilation;
using MeZO.Engine.Backends.Cuda.Native;
using MeZO.Engine.Backends.Cuda.Ops;

namespace MeZO.Verification;

/// <summary>One kernel file's compilation: its kernels' resources, or NVRTC's error.</summary>
public sealed record KernelFileReport(string File, IReadOnlyList<KernelResources> Kernels, string? Error);

/// <summary>Every kernel file compiled for one architecture, with the NVRTC that did it.</summary>
public sealed record KernelCompilationReport(string NvrtcVersion, string NvrtcPath, int RequestedArchitecture, string Target,
    bool MachineCode, string? Note, IReadOnlyList<KernelFileReport> Files)
{
    public bool AllCompiled => Files.All(f => f.Error is null);
    public bool AnySpills => Files.SelectMany(f => f.Kernels).Any(k => k.Spills);
}

/// <summary>
/// `mezo verify --compile-only`: compiles every embedded kernel file with the NVRTC on this machine, which needs no
/// GPU, and collects ptxas's per-kernel report. CI runs it for sm_80 and sm_90, so a kernel that no longer compiles
/// or starts spilling registers fails before it reaches a GPU.
/// </summary>
public static class KernelCompilation
{
    /// <summary>NVRTC's version and supported architectures, or an <see cref="InvalidInputException"/> naming what is missing.</summary>
    public static (string Version, IReadOnlyList<int> Architectures) Nvrtc()
    {
        var compiler = Load();
        return (compiler.Version, compiler.SupportedArchitectures);
    }

    /// <summary>
    /// Compiles every file for compute capability <paramref name="computeCapability"/>: machine code when NVRTC
    /// knows it (the report then has registers, shared memory and spills), else PTX for the newest older target
    /// (which the driver compiles at load time; ptxas has not run, so there is no resource report).
    /// </summary>
    /// <param name="progress">told (files compiled, files in all) after each kernel file</param>
    public static KernelCompilationReport CompileAll(int computeCapability, Action<long, long>? progress = null)
    {
        var compiler = Load();
        var target = GpuArchitecture.Choose(computeCapability, compiler.SupportedArchitectures)
            ?? throw new InvalidInputException($"NVRTC {compiler.Version} knows no architecture at or below sm_{computeCapability} " +
                                               $"(it knows {string.Join(", ", compiler.SupportedArchitectures.Select(a => "sm_" + a))})");
        string? note = target.MachineCode ? null
            : $"NVRTC {compiler.Version} does not know sm_{computeCapability}: compiled {target.Option} PTX, which the driver " +
              $"compiles on the GPU; no register or spill report without ptxas";
        var files = new List<KernelFileReport>();
        foreach (var file in KernelCatalog.All)
        {
            try
            {
                var compiled = compiler.Compile(file, target);
                files.Add(new KernelFileReport(file.Name, compiled.Resources, null));
            }
            catch (KernelCompileException e)
            {
                files.Add(new KernelFileReport(file.Name, [], e.Log));
            }
            progress?.Invoke(files.Count, KernelCatalog.All.Count);
        }
        return new KernelCompilationReport(compiler.Version, compiler.LibraryPath, computeCapability, target.Option, target.MachineCode,
            note, files);
    }

    /// <summary>Parses "sm_80", "sm_90", "80" or "8.0" into a compute capability (80, 90).</summary>
    public static bool TryParseArchitecture(string text, out int computeCapability) =>
        GpuArchitecture.TryParseComputeCapability(text, out computeCapability);

    /// <summary>The dynamic shared memory the attention kernel takes per block at head width <paramref name="headDim"/>.</summary>
    public static int AttentionSharedBytes(int headDim) => CudaAttention.SharedBytes(headDim);

    private static NvrtcCompiler Load() =>
        NvrtcCompiler.TryLoad(out string problem) ?? throw new InvalidInputException(
            $"mezo verify: {problem}; install it (Debian non-free: libnvrtc11.2 libnvrtc-builtins11.8; pip: nvidia-cuda-nvrtc for CUDA 13, nvidia-cuda-nvrtc-cu12 for CUDA 12) " +
            $"or set {CudaLibraries.PathVariable}");
}
