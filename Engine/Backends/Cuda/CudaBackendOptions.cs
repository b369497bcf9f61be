using MeZO.Engine.Backends.Cuda.Compilation;

namespace MeZO.Engine.Backends.Cuda;

/// <summary>How the matrix products of Linear round their inputs.</summary>
public enum MatmulPrecision
{
    /// <summary>
    /// 16-bit weights: x rounded to the weights' dtype, tensor cores, float32 accumulation (DESIGN §2).
    /// Float32 weights: TF32 tensor cores. The fast setting, for training and benchmarks.
    /// </summary>
    Mixed,

    /// <summary>Float32 inputs and accumulation, as the CPU backend computes: the reference for parity checks.</summary>
    Float32,
}

/// <summary>How the perturbation kernels turn Philox words into z (Kernels/philox.cuh).</summary>
public enum NoiseArithmetic
{
    /// <summary>Double precision, the CPU's operations one for one: z and the updated weights bit-identical to the CPU's.</summary>
    Exact,

    /// <summary>Float32 after an exact range reduction: within 1e-6 of the exact z; for GPUs with slow FP64.</summary>
    Fast,
}

/// <summary>Settings of the CUDA backend; <see cref="FromEnvironment"/> reads them from MEZO_CUDA_* variables.</summary>
public sealed record CudaBackendOptions
{
    /// <summary>Device ordinal, as CUDA numbers them (after CUDA_VISIBLE_DEVICES).</summary>
    public int Device { get; init; }

    /// <summary>
    /// <see cref="Device"/> is this MPI rank's place among the ranks of its node (Open MPI's OMPI_COMM_WORLD_LOCAL_RANK),
    /// taken modulo the devices the node has: the ranks of a data-parallel job spread over a node's GPUs instead of
    /// all opening the first.
    /// </summary>
    public bool DeviceFromLocalRank { get; init; }

    /// <summary>The ordinal to open on a machine with <paramref name="count"/> devices.</summary>
    public int OrdinalAmong(int count) => DeviceFromLocalRank && count > 0 ? Device % count : Device;

    public MatmulPrecision Precision { get; init; } = MatmulPrecision.Mixed;

    public NoiseArithmetic Noise { get; init; } = NoiseArithmetic.Exact;

    /// <summary>Use cuBLASLt for matrix products where it is installed (else the NVRTC kernels).</summary>
    public bool UseCublasLt { get; init; } = true;

    /// <summary>Where compiled kernels are kept (<see cref="KernelCache.DefaultDirectory"/> when null).</summary>
    public string? KernelCacheDirectory { get; init; }

    /// <summary>
    /// MEZO_CUDA_DEVICE (ordinal; without it, under mpirun, the rank's place on its node), MEZO_CUDA_MATMUL (cublaslt | kernels), MEZO_CUDA_PRECISION (mixed | f32),
    /// MEZO_CUDA_NOISE (exact | fast), MEZO_KERNEL_CACHE (folder). An unknown value is an error naming the variable.
    /// </summary>
    public static CudaBackendOptions FromEnvironment()
    {
        var options = new CudaBackendOptions();
        if (Read("MEZO_CUDA_DEVICE") is null && int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_RANK"), out int localRank)
            && localRank >= 0)
            options = options with { Device = localRank, DeviceFromLocalRank = true };
        if (Read("MEZO_CUDA_DEVICE") is { } device)
            options = options with
            {
                Device = int.TryParse(device, out int ordinal) && ordinal >= 0
                    ? ordinal : throw new InvalidInputException($"MEZO_CUDA_DEVICE='{device}' is not a device number"),
            };
        if (Read("MEZO_CUDA_MATMUL") is { } matmul)
            options = options with
            {
                UseCublasLt = matmul switch
                {
                    "cublaslt" => true,
                    "kernels" => false,
                    _ => throw new InvalidInputException($"MEZO_CUDA_MATMUL='{matmul}' is unknown (cublaslt, kernels)"),
                },
            };
        if (Read("MEZO_CUDA_PRECISION") is { } precision)
            options = options with
            {
                Precision = precision switch
                {
                    "mixed" => MatmulPrecision.Mixed,
                    "f32" => MatmulPrecision.Float32,
                    _ => throw new InvalidInputException($"MEZO_CUDA_PRECISION='{precision}' is unknown (mixed, f32)"),
                },
            };
        if (Read("MEZO_CUDA_NOISE") is { } noise)
            options = options with
            {
                Noise = noise switch
                {
                    "exact" => NoiseArithmetic.Exact,
                    "fast" => NoiseArithmetic.Fast,
                    _ => throw new InvalidInputException($"MEZO_CUDA_NOISE='{noise}' is unknown (exact, fast)"),
                },
            };
        return options;
    }

    private static string? Read(string variable) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? value.Trim().ToLowerInvariant() : null;
}
