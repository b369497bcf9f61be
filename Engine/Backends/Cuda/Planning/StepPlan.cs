namespace MeZO.Engine.Backends.Cuda.Planning;

/// <summary>
/// The launches of one recorded piece of work (a MeZO step) with their costs, and its roofline time on a GPU: the
/// sum of every launch's own roofline time, since the backend queues them one after another on one stream. It is an
/// estimate of the best the launch sequence can do, never a measurement: launch gaps, tails and caches are not in it.
/// </summary>
public sealed class StepPlan(GpuSpec gpu, IReadOnlyList<PlannedLaunch> launches, int layers, long peakBytes)
{
    public GpuSpec Gpu { get; } = gpu;

    /// <summary>Every launch and product, in the order the backend queued them.</summary>
    public IReadOnlyList<PlannedLaunch> Launches { get; } = launches;

    /// <summary>The model's decoder layers (launches carry a layer index below this, or <see cref="PlannedLaunch.OutsideLayers"/>).</summary>
    public int Layers { get; } = layers;

    /// <summary>The backend's peak allocation, weights included, at the end of the work.</summary>
    public long PeakBytes { get; } = peakBytes;

    public long BytesRead => Launches.Sum(l => l.Cost.BytesRead);
    public long BytesWritten => Launches.Sum(l => l.Cost.BytesWritten);
    public double Flops => Launches.Sum(l => l.Cost.Flops);
    public double Seconds => SecondsOf(Launches);

    public double SecondsOf(IEnumerable<PlannedLaunch> launches) => launches.Sum(l => l.Cost.Seconds(Gpu));

    /// <summary>Layer <paramref name="layer"/>'s launches (or <see cref="PlannedLaunch.OutsideLayers"/>'), in order.</summary>
    public IReadOnlyList<PlannedLaunch> InLayer(int layer) => Launches.Where(l => l.Layer == layer).ToArray();
}
