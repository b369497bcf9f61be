using MeZO.Engine.Adapters;
using MeZO.Engine.Backends;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>
/// Scratch for forward passes of up to MaxBatch × MaxLength new tokens, allocated once and reused by every call: the
/// forward pass allocates no buffer of its own. Only one layer's activations are ever alive. With a cache capacity it
/// also holds every layer's keys and values for generation.
/// </summary>
public sealed class ForwardWorkspace : IDisposable
{
    // The block is charged to one category, then counted by its slots' categories (MemoryReport.AllocateSplit).
    private const MemoryCategory Charged = MemoryCategory.Activations;

    private readonly WorkspacePlan _plan;
    private readonly long[] _bytesByCategory;
    private readonly Tensor _block;
    private readonly Dictionary<string, Tensor> _slots;
    private readonly Dictionary<(int Batch, int Length), ForwardViews> _views = [];
    private bool _disposed;

    internal ForwardWorkspace(ArchitectureSpec spec, IBackend backend, int maxBatch, int maxLength, int cacheCapacity, DType activations,
        bool lockstepPartner = false, AdapterSlots adapters = default)
    {
        if (maxBatch <= 0 || maxLength <= 0)
            throw new ArgumentOutOfRangeException(nameof(maxBatch), "a workspace needs a positive batch and length");
        Spec = spec;
        Backend = backend;
        MaxBatch = maxBatch;
        MaxLength = maxLength;
        CacheCapacity = cacheCapacity;
        Adapters = adapters;
        Activations = activations;
        _plan = WorkspacePlan.For(spec, maxBatch, maxLength, cacheCapacity, activations, lockstepPartner, adapters);
        _bytesByCategory = Enum.GetValues<MemoryCategory>().Select(_plan.BytesOf).ToArray();
        // One allocation for every buffer; its shape only sizes it (rows of one alignment unit), slots are carved out by
        // byte offset.
        const int RowInts = WorkspacePlan.Alignment / sizeof(int);
        var rows = new TensorShape(checked((int)(_plan.Bytes / WorkspacePlan.Alignment)), RowInts);
        _block = backend.Memory.AllocateSplit(Charged, _bytesByCategory, () => backend.Allocate(rows, DType.I32, Charged, "workspace"));
        _slots = _plan.Slots.ToDictionary(s => s.Name,
            s => _block.ViewBytes(s.Offset, new TensorShape(s.Dims), s.Type, s.Name), StringComparer.Ordinal);
        Logits = _slots["logits"];
        LogitRows = Logits.Shape[0];
    }

    /// <summary>Bytes a workspace of this size, with these adapters' buffers, would hold.</summary>
    public static long EstimateBytes(ArchitectureSpec spec, int maxBatch, int maxLength, int cacheCapacity = 0, AdapterSlots adapters = default,
        DType activations = DType.F32) =>
        WorkspacePlan.For(spec, maxBatch, maxLength, cacheCapacity, activations, adapters: adapters).Bytes;

    public ArchitectureSpec Spec { get; }
    public IBackend Backend { get; }
    public int MaxBatch { get; }
    public int MaxLength { get; }
    /// <summary>Positions the KV cache holds per sequence; 0 for a workspace without a cache (scoring, training).</summary>
    public int CacheCapacity { get; }
    public int LogitRows { get; }
    /// <summary>The compute dtype of the activations, logits and KV cache (IBackend's rounding points).</summary>
    public DType Activations { get; }
    /// <summary>The adapter buffers this workspace was made with: a model computes in it only with the same adapters.</summary>
    public AdapterSlots Adapters { get; }

    /// <summary>Sees every intermediate tensor of the passes that compute in this workspace; null (the default) for none.</summary>
    public IForwardObserver? Observer { get; set; }

    internal Tensor Rows => _slots["rows"];                        // (N) I32
    internal Tensor Targets => _slots["targets"];                  // (N) I32
    internal Tensor Picked => _slots["picked"];                    // (N, E)
    internal Tensor Logits { get; }                                // (LogitRows, V)
    internal Tensor RowResults => _slots["row_results"];           // (N) F32
    internal Tensor RowSoftmaxState => _slots["row_softmax_state"]; // (N, 3) F32: max, Σ exp, target logit
    internal Tensor RowIndices => _slots["row_argmax"];            // (N) I32
    internal Tensor PerturbedWeight => _slots["perturbed_weight"]; // (max small parameter) F32
    internal Tensor PerturbedBias => _slots["perturbed_bias"];     // (max small parameter) F32
    internal Tensor? PerturbedPrefix => _slots.GetValueOrDefault("perturbed_prefix"); // (P, L·2·W) F32; null without a prefix

    /// <summary>The slot shaped for a (batch, length) call; null for a slot this architecture does not have.</summary>
    internal Tensor? SlotFor(string name, int batch, int length) =>
        _plan.Find(name) is { } slot ? _slots[name].View(new TensorShape(slot.ShapeFor(batch, length))) : null;

    /// <summary>Views shaped for a (batch, length) call, built once per shape and reused.</summary>
    internal ForwardViews ViewsFor(int batch, int length)
    {
        if (batch > MaxBatch || length > MaxLength)
            throw new ArgumentException($"a batch of {batch} × {length} tokens exceeds this workspace ({MaxBatch} × {MaxLength})");
        if (!_views.TryGetValue((batch, length), out var views))
        {
            views = new ForwardViews(this, batch, length);
            _views.Add((batch, length), views);
        }
        return views;
    }

    /// <summary>Bytes this workspace holds: its one allocation.</summary>
    public long Bytes => _plan.Bytes;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Backend.Memory.Unsplit(Charged, _bytesByCategory);
        _block.Dispose();
        _views.Clear();
    }
}
