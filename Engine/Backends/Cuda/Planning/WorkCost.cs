namespace MeZO.Engine.Backends.Cuda.Planning;

/// <summary>
/// What one launch or product moves and computes: its compulsory DRAM traffic (each operand read once, each result
/// written once; caches assumed to catch every reuse) and its floating-point operations on one <see cref="ComputePipe"/>.
/// </summary>
/// <param name="Shape">the sizes the cost was computed from, as a reader would check them ("4080 × 8192 × 2048")</param>
public readonly record struct WorkCost(string Shape, long BytesRead, long BytesWritten, double Flops, ComputePipe Pipe)
{
    public long Bytes => BytesRead + BytesWritten;

    /// <summary>The roofline: the longer of moving the bytes at full bandwidth and computing at the pipe's peak.</summary>
    public double Seconds(GpuSpec gpu) => Math.Max(Bytes / gpu.MemoryBytesPerSecond, Flops / gpu.Peak(Pipe));

    public bool MemoryBound(GpuSpec gpu) => Bytes / gpu.MemoryBytesPerSecond >= Flops / gpu.Peak(Pipe);
}
