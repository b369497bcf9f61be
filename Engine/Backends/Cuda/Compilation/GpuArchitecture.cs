using System.Globalization;

namespace MeZO.Engine.Backends.Cuda.Compilation;

/// <summary>
/// What NVRTC compiles for: machine code for one GPU generation (sm_80, a cubin) or, when the NVRTC is older than
/// the GPU, portable PTX for the newest generation it knows (compute_86), which the driver then compiles.
/// </summary>
internal readonly record struct GpuArchitecture(int ComputeCapability, bool MachineCode)
{
    /// <summary>"sm_80" or "compute_86": the value of --gpu-architecture.</summary>
    public string Option => (MachineCode ? "sm_" : "compute_") + ComputeCapability.ToString(CultureInfo.InvariantCulture);

    public override string ToString() => Option;

    /// <summary>Parses "sm_80", "sm_90", "80" or "8.0".</summary>
    public static bool TryParseComputeCapability(string text, out int computeCapability)
    {
        string t = text.Trim().ToLowerInvariant();
        if (t.StartsWith("sm_", StringComparison.Ordinal)) t = t[3..];
        if (t.Contains('.')) t = t.Replace(".", "", StringComparison.Ordinal);
        return int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out computeCapability) && computeCapability is >= 30 and < 1000;
    }

    /// <summary>
    /// The target for a device of compute capability <paramref name="device"/> given the architectures NVRTC supports:
    /// its own machine code if NVRTC knows it, else PTX for the newest older one; null when NVRTC knows none that old.
    /// </summary>
    public static GpuArchitecture? Choose(int device, IReadOnlyList<int> supported)
    {
        if (supported.Contains(device)) return new GpuArchitecture(device, MachineCode: true);
        int older = supported.Where(a => a <= device).DefaultIfEmpty(0).Max();
        return older == 0 ? null : new GpuArchitecture(older, MachineCode: false);
    }
}
