using MeZO.Engine.Backends.Cpu;

namespace MeZO.Engine.Backends;

/// <summary>Creates a backend by its command-line name.</summary>
public static class BackendFactory
{
    public static IBackend Create(string? name) => (name ?? "cpu").ToLowerInvariant() switch
    {
        "cpu" => new CpuBackend(),
        "cuda" => throw new InvalidInputException(
            "--backend cuda: this build has no CUDA backend yet; use --backend cpu"),
        _ => throw new InvalidInputException($"--backend '{name}' is unknown (cpu, cuda)"),
    };
}
