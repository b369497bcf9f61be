using MeZO.Engine.Models;

namespace MeZO.Engine.Backends.Cuda.Planning;

/// <summary>
/// A CUDA backend over <see cref="PlanRuntime"/>: the engine's own code (a forward pass, a MeZO step) runs on
/// <see cref="Backend"/> exactly as on a GPU, choosing the paths that GPU would, and <see cref="Record"/> returns the
/// launches it made with their bytes, FLOPs and roofline time. No GPU, no driver and no weights are needed: a model made
/// with <see cref="Transformer.FromConfig"/> on <see cref="Backend"/> has its layout and no values.
/// </summary>
public sealed class CudaPlan : IDisposable
{
    private readonly PlanRuntime _runtime;

    private CudaPlan(GpuSpec gpu, CudaBackendOptions options)
    {
        Gpu = gpu;
        _runtime = new PlanRuntime(gpu, options.UseCublasLt);
        Backend = new CudaBackend(_runtime, options, new MemoryReport());
    }

    /// <param name="options">the settings a real run would use (default: <see cref="CudaBackendOptions.FromEnvironment"/>, as `--backend cuda` reads them)</param>
    public static CudaPlan Create(GpuSpec gpu, CudaBackendOptions? options = null) => new(gpu, options ?? CudaBackendOptions.FromEnvironment());

    public GpuSpec Gpu { get; }

    public CudaBackend Backend { get; }

    /// <summary>Runs <paramref name="work"/> on <see cref="Backend"/> and returns what it launched, attributed to <paramref name="model"/>'s layers.</summary>
    public StepPlan Record(Transformer model, Action work)
    {
        if (!ReferenceEquals(model.Backend, Backend)) throw new ArgumentException("the model must be on the plan's backend", nameof(model));
        var weights = WeightRanges(model);
        _runtime.ClearRecorded();
        work();
        var launches = new List<PlannedLaunch>(_runtime.Recorded.Count);
        int layer = PlannedLaunch.OutsideLayers;
        foreach (var r in _runtime.Recorded)
        {
            foreach (nint address in r.Addresses)
                if (LayerOf(weights, address) is { } owner)
                {
                    layer = owner;
                    break;
                }
            launches.Add(new PlannedLaunch(r.Name, layer, r.Cost));
        }
        _runtime.ClearRecorded();
        return new StepPlan(Gpu, launches, model.Spec.NumLayers, Backend.Memory.PeakTotal);
    }

    /// <summary>Each parameter's address range and its layer (<see cref="PlannedLaunch.OutsideLayers"/> for the others), by start.</summary>
    private static (long Start, long End, int Layer)[] WeightRanges(Transformer model)
    {
        var names = model.Spec.Names;
        string[] prefixes = Enumerable.Range(0, model.Spec.NumLayers).Select(l => names.Layer(l, "")).ToArray();
        return model.Weights.Parameters
            .Select(p => ((long)p.Tensor.Address, (long)p.Tensor.Address + p.Tensor.ByteCount,
                Array.FindIndex(prefixes, prefix => p.Name.StartsWith(prefix, StringComparison.Ordinal)) is var l and >= 0 ? l : PlannedLaunch.OutsideLayers))
            .OrderBy(r => r.Item1)
            .ToArray();
    }

    private static int? LayerOf((long Start, long End, int Layer)[] ranges, nint address)
    {
        long a = address;
        int lo = 0, hi = ranges.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            if (a < ranges[mid].Start) hi = mid - 1;
            else if (a >= ranges[mid].End) lo = mid + 1;
            else return ranges[mid].Layer;
        }
        return null;
    }

    public void Dispose() => Backend.Dispose();
}
