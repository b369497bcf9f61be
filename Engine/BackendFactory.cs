using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cuda;

namespace MeZO.Engine;

/// <summary>
/// Creates a backend by its command-line name: the one place that names both backends, above them, so that neither
/// they nor the contracts they implement (MeZO.Engine.Backends) refer back to it.
/// </summary>
public static class BackendFactory
{
    public static IBackend Create(string? name) => Validate(name) switch
    {
        "cuda" => CudaBackend.Create(), // no driver, GPU or NVRTC: an InvalidInputException saying which
        _ => new CpuBackend(),
    };

    /// <summary>
    /// The backend that holds a streamed model's layers for <paramref name="device"/> (<see cref="Models.Streaming.LayerStreaming"/>):
    /// the device's own host backend where it has one (CUDA: pinned memory), else a plain CPU backend.
    /// </summary>
    public static IBackend CreateStreamingHost(IBackend device) =>
        device is IStreamingDevice streaming ? streaming.CreateHostBackend() : new CpuBackend();

    /// <summary>The backend's canonical name, or an error for an unknown one — before any expensive work is done.</summary>
    public static string Validate(string? name) => (name ?? "cpu").ToLowerInvariant() switch
    {
        "cpu" => "cpu",
        "cuda" => "cuda",
        _ => throw new InvalidInputException($"--backend '{name}' is unknown (cpu, cuda)"),
    };
}
