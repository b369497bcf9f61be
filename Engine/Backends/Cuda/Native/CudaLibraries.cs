using System.Reflection;
using System.Runtime.InteropServices;

namespace MeZO.Engine.Backends.Cuda.Native;

/// <summary>One of the NVIDIA libraries the CUDA backend loads at run time.</summary>
internal enum CudaLibrary
{
    /// <summary>The driver API, libcuda.so.1, installed with the GPU driver.</summary>
    Driver,
    /// <summary>The run-time compiler, libnvrtc.so.N, from a CUDA toolkit, a distribution package or a pip wheel.</summary>
    Nvrtc,
    /// <summary>The matrix-product library, libcublasLt.so.N: optional (an NVRTC kernel replaces it).</summary>
    CublasLt,
}

/// <summary>Where a library was found, or everything that was tried.</summary>
internal sealed record LibraryProbe(CudaLibrary Library, nint Handle, string? Path, IReadOnlyList<string> Tried)
{
    public bool Found => Handle != 0;

    /// <summary>"libnvrtc.so.13, .12, .11.2 or libnvrtc.so (looked in: …)" — for one-line errors.</summary>
    public string Describe() =>
        $"{string.Join(", ", CudaLibraries.FileNames(Library))} (looked on the loader's path and in " +
        $"{string.Join(", ", CudaLibraries.VariableFolders().Concat(CudaLibraries.StandardFolders()))}; " +
        $"set {CudaLibraries.PathVariable} to the folder that holds it)";
}

/// <summary>
/// Finds the NVIDIA libraries by name and folder, newest major version first, and points the bindings'
/// [LibraryImport] names at what it found through one DllImportResolver. Nothing is loaded until a CUDA path is
/// taken, so a machine without CUDA never touches these libraries; when one is missing, callers ask
/// <see cref="Probe"/> first and report a single clear line instead of a DllNotFoundException deep in a call.
/// </summary>
internal static class CudaLibraries
{
    /// <summary>The [LibraryImport] names; the resolver maps them to the files found.</summary>
    public const string DriverImport = "mezo-cuda-driver", NvrtcImport = "mezo-nvrtc", CublasLtImport = "mezo-cublaslt";

    /// <summary>Extra folders (colon-separated) searched first: where pip wheels keep libnvrtc and libcublasLt.</summary>
    public const string PathVariable = "MEZO_CUDA_LIBRARY_PATH";

    private static readonly Lock Gate = new();
    private static readonly Dictionary<CudaLibrary, LibraryProbe> Probes = [];
    private static bool _resolverSet;

    public static IReadOnlyList<string> FileNames(CudaLibrary library) => library switch
    {
        CudaLibrary.Driver => ["libcuda.so.1", "libcuda.so"],
        CudaLibrary.Nvrtc => ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"],
        CudaLibrary.CublasLt => ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so"],
        _ => throw new ArgumentOutOfRangeException(nameof(library)),
    };

    /// <summary>Folders named by <see cref="PathVariable"/>: searched before anything else.</summary>
    public static IReadOnlyList<string> VariableFolders() =>
        (Environment.GetEnvironmentVariable(PathVariable) ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Where(Directory.Exists).Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Folders searched after the loader's own path: CUDA_HOME / CUDA_PATH, then the places CUDA toolkits,
    /// distributions, WSL and NVIDIA's containers use.
    /// </summary>
    public static IReadOnlyList<string> StandardFolders()
    {
        var folders = new List<string>();
        foreach (string variable in new[] { "CUDA_HOME", "CUDA_PATH" })
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } home)
                folders.AddRange([Path.Combine(home, "lib64"), Path.Combine(home, "lib")]);
        folders.AddRange(["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"]);
        try
        {
            // Versioned toolkits side by side (/usr/local/cuda-12.4): newest first.
            if (Directory.Exists("/usr/local"))
                folders.AddRange(Directory.GetDirectories("/usr/local", "cuda-*")
                    .OrderByDescending(d => d, StringComparer.Ordinal).Select(d => Path.Combine(d, "lib64")));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // an unreadable /usr/local only means fewer places to look
        }
        folders.AddRange(["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib/x86_64-linux-gnu/nvidia/current",
            "/usr/local/nvidia/lib64", "/usr/lib/wsl/lib"]);
        return folders.Where(Directory.Exists).Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>Finds and loads a library once (later calls return the same answer).</summary>
    public static LibraryProbe Probe(CudaLibrary library)
    {
        lock (Gate)
        {
            if (Probes.TryGetValue(library, out var known)) return known;
            var names = FileNames(library);
            IEnumerable<string> InFolders(IReadOnlyList<string> folders) =>
                folders.SelectMany(f => names.Select(n => Path.Combine(f, n))).Where(File.Exists);
            // An explicit folder wins, then the loader's own search (LD_LIBRARY_PATH, ldconfig), then the usual places.
            var candidates = InFolders(VariableFolders()).Concat(names).Concat(InFolders(StandardFolders()));
            var tried = new List<string>();
            var result = new LibraryProbe(library, 0, null, tried);
            foreach (string candidate in candidates)
            {
                tried.Add(candidate);
                if (NativeLibrary.TryLoad(candidate, out nint handle))
                {
                    if (library == CudaLibrary.Nvrtc && Path.IsPathRooted(candidate)) LoadBuiltinsBeside(candidate);
                    result = new LibraryProbe(library, handle, candidate, tried);
                    break;
                }
            }
            Probes[library] = result;
            return result;
        }
    }

    /// <summary>
    /// Loads the builtins libraries in NVRTC's folder and returns those it loaded. NVRTC opens its builtins
    /// (libnvrtc-builtins.so.13.0) by name when it first compiles, through the loader's search path and its own RUNPATH
    /// only, which Debian's libnvrtc and the CUDA 13.0 pip wheel's lack: found through MEZO_CUDA_LIBRARY_PATH alone it
    /// failed with NVRTC_ERROR_BUILTIN_OPERATION_FAILURE. Loaded here first, the name resolves to the library in the process.
    /// </summary>
    public static IReadOnlyList<string> LoadBuiltinsBeside(string nvrtcPath)
    {
        string folder = Path.GetDirectoryName(nvrtcPath)!;
        var builtins = Directory.GetFiles(folder, "libnvrtc-builtins.so.*").Order(StringComparer.Ordinal).ToArray();
        return builtins.Where(file => NativeLibrary.TryLoad(file, out _)).ToArray();
    }

    /// <summary>Installs the resolver that maps the [LibraryImport] names to the probed files (once per process).</summary>
    public static void InstallResolver()
    {
        lock (Gate)
        {
            if (_resolverSet) return;
            NativeLibrary.SetDllImportResolver(typeof(CudaLibraries).Assembly, Resolve);
            _resolverSet = true;
        }
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        CudaLibrary? library = name switch
        {
            DriverImport => CudaLibrary.Driver,
            NvrtcImport => CudaLibrary.Nvrtc,
            CublasLtImport => CudaLibrary.CublasLt,
            _ => null,
        };
        if (library is null) return 0; // not ours: the default rules apply
        var probe = Probe(library.Value);
        if (!probe.Found)
            throw new DllNotFoundException($"{library} library not found: {probe.Describe()}");
        return probe.Handle;
    }
}
