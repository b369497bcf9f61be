using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Cuda;

namespace MeZO.Engine.Backends;

/// <summary>Creates a backend by its command-line name.</summary>
public static class BackendFactory
{
    public static IBackend Create(string? name) => (name ?? "cpu").ToLowerInvariant() switch
    {
        "cpu" => new CpuBackend(),
        "cuda" => CudaBackend.Create(), // no driver, GPU or NVRTC: an InvalidInputException saying which
        _ => throw new InvalidInputException($"--backend '{name}' is unknown (cpu, cuda)"),
    };
}
