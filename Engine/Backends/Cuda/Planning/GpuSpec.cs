namespace MeZO.Engine.Backends.Cuda.Planning;

/// <summary>
/// The data-sheet limits a roofline divides by: HBM bandwidth and the dense peak of each <see cref="ComputePipe"/>
/// (no structured sparsity), plus what the backend asks a device for (compute capability, SMs, shared memory).
/// </summary>
/// <param name="Key">The --gpu name: a100, h100, h200.</param>
public sealed record GpuSpec(string Key, string Name, int ComputeCapability, int Multiprocessors, int MaxSharedBytesPerBlock,
    long MemoryBytes, double MemoryBytesPerSecond, double Fp64FlopsPerSecond, double Fp32FlopsPerSecond, double Tf32FlopsPerSecond,
    double HalfFlopsPerSecond)
{
    /// <summary>
    /// NVIDIA A100 Tensor Core GPU data sheet (2021), A100 80GB SXM column: FP64 9.7 TFLOPS, FP32 19.5, TF32 156,
    /// BF16 312 (the sparse figures are twice these), HBM2e 2,039 GB/s. 108 SMs, 163 KiB of shared memory per block
    /// (CUDA C++ Programming Guide, compute capability 8.0).
    /// </summary>
    public static readonly GpuSpec A100 = new("a100", "A100 80GB SXM", 80, 108, 163 * 1024, 80L << 30, 2.039e12,
        9.7e12, 19.5e12, 156e12, 312e12);

    /// <summary>
    /// NVIDIA H100 Tensor Core GPU data sheet (2023), H100 SXM column: FP64 34 TFLOPS, FP32 67, TF32 494.5 and BF16
    /// 989.5 dense (the sheet's 989 and 1,979 are with sparsity), HBM3 3.35 TB/s. 132 SMs, 227 KiB of shared memory per
    /// block (compute capability 9.0).
    /// </summary>
    public static readonly GpuSpec H100 = new("h100", "H100 SXM5 80GB", 90, 132, 227 * 1024, 80L << 30, 3.35e12,
        34e12, 67e12, 494.5e12, 989.5e12);

    /// <summary>
    /// NVIDIA H200 Tensor Core GPU data sheet (2024), H200 SXM column: the H100's compute (FP64 34 TFLOPS, FP32 67,
    /// TF32 494.5 and BF16 989.5 dense) with 141 GB of HBM3e at 4.8 TB/s.
    /// </summary>
    public static readonly GpuSpec H200 = new("h200", "H200 SXM 141GB", 90, 132, 227 * 1024, 141_000_000_000L, 4.8e12,
        34e12, 67e12, 494.5e12, 989.5e12);

    public static IReadOnlyList<GpuSpec> All { get; } = [A100, H100, H200];

    /// <summary>The GPU a --gpu value names (case-insensitive), or null.</summary>
    public static GpuSpec? Find(string key) => All.FirstOrDefault(g => string.Equals(g.Key, key, StringComparison.OrdinalIgnoreCase));

    public double Peak(ComputePipe pipe) => pipe switch
    {
        ComputePipe.Fp32 => Fp32FlopsPerSecond,
        ComputePipe.Fp64 => Fp64FlopsPerSecond,
        ComputePipe.Tf32Tensor => Tf32FlopsPerSecond,
        ComputePipe.HalfTensor => HalfFlopsPerSecond,
        _ => throw new ArgumentOutOfRangeException(nameof(pipe), pipe, null),
    };

    /// <summary>"3.35 TB/s; dense 989 TFLOP/s bf16, 494 tf32, 67 fp32, 34 fp64".</summary>
    public string Limits =>
        $"{MemoryBytesPerSecond / 1e12:0.###} TB/s; dense {HalfFlopsPerSecond / 1e12:0.#} TFLOP/s bf16, {Tf32FlopsPerSecond / 1e12:0.#} tf32, " +
        $"{Fp32FlopsPerSecond / 1e12:0.#} fp32, {Fp64FlopsPerSecond / 1e12:0.#} fp64";
}
