using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models.Streaming;

/// <summary>
/// The decoder layers of a streamed model (<see cref="LayerStreaming"/>) as the forward pass reads them: layer l's
/// parameters are copied from the host into device slot l mod 2 just before layer l runs, and layer l + 1's into the
/// other slot ahead of layer l's compute: on a device with a copy queue (<see cref="IStreamingDevice"/>) that copy
/// overlaps layer l's compute, and waits only for layer l − 1's, the slot's last reader.
/// Every forward call copies each layer once: MeZO's ±ε streams run each layer in lockstep, so one copy serves both,
/// and the host copy (which the update writes) is always the one read. A slot tensor stands for its host tensor:
/// <see cref="HomeOf"/> maps it back, so the perturbation finds the same z and LoRA the same module.
/// The last step's updates of a layer (<see cref="PendingUpdates"/>) land on its host copy just before that copy is
/// read: layer l + 2's on a worker thread while layer l computes and layer l + 1 is copied.
/// </summary>
internal sealed class StreamedLayers : IDisposable
{
    /// <summary>As <see cref="ModelWeights"/> aligns its tensors: a cache line and a full AVX-512 vector.</summary>
    private const int Alignment = 64;

    private readonly IBackend _device;
    private readonly string _directory;                  // names the model in a budget error
    private readonly ILayerTransfers _transfers;
    private readonly IReadOnlyList<LayerWeights> _host;
    private readonly PendingUpdates _pending;
    private readonly Tensor[] _slots;                    // 2 × (SlotBytes) on the device
    private readonly LayerWeights[] _onDevice;           // layer l's tensors as views into slot l mod 2
    private readonly (Tensor Host, Tensor Device)[][] _copies; // per layer: what one copy moves
    private readonly Dictionary<Tensor, Tensor> _homeOf = new(ReferenceEqualityComparer.Instance);
    private readonly int[] _resident = [-1, -1];         // the layer each slot holds in this forward call

    public StreamedLayers(ModelWeights weights, IBackend device, long budget, string directory)
    {
        // The copies read the host tensors' bytes in place.
        if (weights.LayerBackend is not CpuBackend)
            throw new ArgumentException($"streamed layers live on a CPU backend, not {weights.LayerBackend.Name}", nameof(weights));
        _device = device;
        _directory = directory;
        _transfers = device is IStreamingDevice streaming ? streaming.OpenTransfers(2) : new SynchronousTransfers(device);
        _host = weights.Layers;
        _pending = weights.Pending!; // made with the layers' host arena
        Budget = budget;
        var offsets = _host.Select(layer =>
        {
            long at = 0;
            var placed = new List<(Tensor, long)>();
            foreach (var t in layer.Tensors)
            {
                placed.Add((t, at));
                at += (t.ByteCount + Alignment - 1) / Alignment * Alignment;
            }
            return (Placed: placed, Bytes: at);
        }).ToArray();
        SlotBytes = offsets.Length == 0 ? 0 : offsets.Max(o => o.Bytes);
        _slots = new Tensor[2];
        try
        {
            for (int i = 0; i < 2; i++) _slots[i] = ModelWeights.AllocateArena(device, SlotBytes, $"layer slot {i}");
        }
        catch
        {
            Dispose();
            throw;
        }
        _onDevice = new LayerWeights[_host.Count];
        _copies = new (Tensor, Tensor)[_host.Count][];
        for (int l = 0; l < _host.Count; l++)
        {
            var slot = _slots[l % 2];
            var at = offsets[l].Placed.ToDictionary<(Tensor, long), Tensor, long>(p => p.Item1, p => p.Item2, ReferenceEqualityComparer.Instance);
            var copies = new List<(Tensor, Tensor)>();
            _onDevice[l] = _host[l].Map(t =>
            {
                var view = slot.ViewBytes(at[t], t.Shape, t.DType, t.Name);
                _homeOf.Add(view, t);
                copies.Add((t, view));
                return view;
            });
            _copies[l] = copies.ToArray();
        }
    }

    /// <summary>The bytes of one slot: the largest layer's parameters.</summary>
    public long SlotBytes { get; }

    public long Budget { get; }

    /// <summary>
    /// Forgets what the slots hold: a forward call reads the host weights as they are now (after an update). Checks the
    /// budget again, for what a backend allocates only as the forward pass needs it (CUDA's perturbed-weight scratch).
    /// </summary>
    public void BeginCall()
    {
        CheckBudget();
        _resident.AsSpan().Fill(-1);
    }

    /// <summary>
    /// Layer l's parameters on the device, with layer l + 1's copy issued behind them; the compute queued after this
    /// call waits for layer l's copy only.
    /// </summary>
    public LayerWeights Acquire(int l)
    {
        Load(l);
        if (l + 1 < _host.Count) Load(l + 1);
        // Layer l + 2's copy is issued by the next call: its update has this layer's compute to run in.
        if (l + 2 < _host.Count) _pending.ApplyInBackground(l + 2);
        _transfers.AwaitFill(l % 2);
        return _onDevice[l];
    }

    /// <summary>The host tensor a slot tensor stands for; any other tensor is its own home.</summary>
    public Tensor HomeOf(Tensor t) => _homeOf.GetValueOrDefault(t, t);

    /// <summary>
    /// Throws when the device holds more than the budget: the one check, made after each allocation a streamed model
    /// makes (its weights and slots, then each workspace) and before each forward call, with the parts of the need.
    /// </summary>
    /// <exception cref="InvalidInputException">the device's allocated bytes exceed <see cref="Budget"/>.</exception>
    public void CheckBudget()
    {
        var memory = _device.Memory;
        long total = memory.CurrentTotal;
        if (total <= Budget) return;
        long slots = 2 * SlotBytes, resident = memory.Current(MemoryCategory.Weights) + memory.Current(MemoryCategory.Adapter) - slots;
        throw new InvalidInputException(
            $"--max-device-memory {ByteSize.Format(Budget)} is too small for {_directory}: its resident weights ({ByteSize.Format(resident)}), " +
            $"two layer slots ({ByteSize.Format(slots)}) and workspaces ({ByteSize.Format(total - resident - slots)}) need {ByteSize.Format(total)}");
    }

    private void Load(int l)
    {
        int slot = l % 2;
        if (_resident[slot] == l) return;
        // The copy reads the host weights: they must hold the last step's update first.
        _pending.Apply(l);
        _transfers.BeginFill(slot);
        foreach (var (host, device) in _copies[l]) _transfers.Upload(host, device);
        _transfers.EndFill(slot);
        _resident[slot] = l;
    }

    public void Dispose()
    {
        // Queued copies may still read the host weights and write the slots.
        _device.Synchronize();
        _transfers.Dispose();
        foreach (var slot in _slots) slot?.Dispose();
    }
}
