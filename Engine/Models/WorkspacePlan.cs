using MeZO.Engine.Adapters;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>
/// Every buffer of a forward workspace of a given size, laid out in one block like llm.c's activations: the list is
/// written here once, and the allocation, the views of a call and the memory report by category all come from it.
/// </summary>
internal sealed class WorkspacePlan
{
    /// <summary>
    /// Each slot starts a multiple of 256 bytes into the block: cuMemAlloc's own alignment, so a slot sits as a separate
    /// device allocation would, and on a whole number of AVX-512 vectors on the CPU (whose block is 64-byte aligned).
    /// </summary>
    public const int Alignment = 256;

    private readonly Dictionary<string, WorkspaceSlot> _byName;

    private WorkspacePlan(IReadOnlyList<WorkspaceSlot> slots)
    {
        Slots = slots;
        _byName = slots.ToDictionary(s => s.Name, StringComparer.Ordinal);
        Bytes = slots.Sum(s => s.Extent);
    }

    public IReadOnlyList<WorkspaceSlot> Slots { get; }

    /// <summary>Size of the block: every slot's extent, so a whole number of <see cref="Alignment"/> units.</summary>
    public long Bytes { get; }

    public WorkspaceSlot? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Bytes of the block that hold buffers of <paramref name="category"/>, padding included.</summary>
    public long BytesOf(MemoryCategory category) => Slots.Where(s => s.Category == category).Sum(s => s.Extent);

    /// <param name="lockstepPartner">
    /// the −ε stream of a lockstep pass, whose LM head writes into half of the +ε workspace's logits buffer: it keeps a
    /// one-row buffer of its own, so the second stream costs its activations and no second logits buffer
    /// </param>
    /// <param name="adapters">the buffers the attached adapters need</param>
    /// <param name="activations">
    /// the compute dtype: of every activation, the logits and the KV cache; the log-softmax statistics, scored results and
    /// perturbed copies of weights stay float32
    /// </param>
    public static WorkspacePlan For(ArchitectureSpec spec, int maxBatch, int maxLength, int cacheCapacity, DType activations,
        bool lockstepPartner = false, AdapterSlots adapters = default)
    {
        if (!activations.IsFloatingPoint()) throw new ArgumentException($"activations must be F32, BF16 or F16, not {activations}", nameof(activations));
        int c = spec.HiddenSize, f = spec.IntermediateSize, e = spec.WordEmbeddingSize;
        const MemoryCategory A = MemoryCategory.Activations, W = MemoryCategory.Workspace;
        var slots = new List<WorkspaceSlot>();
        long offset = 0;
        void Add(string name, DType type, MemoryCategory category, Func<int, int, int[]> shapeFor)
        {
            var slot = new WorkspaceSlot(name, type, category, shapeFor, shapeFor(maxBatch, maxLength), offset);
            slots.Add(slot);
            offset += slot.Extent;
        }

        Add("hidden", activations, A, (b, t) => [b * t, c]);       // residual stream
        Add("normed", activations, A, (b, t) => [b * t, c]);
        Add("block_output", activations, A, (b, t) => [b * t, c]); // attention or MLP output before the residual add
        Add("q", activations, A, (b, t) => [b * t, spec.QueryWidth]);
        Add("k", activations, A, (b, t) => [b * t, spec.KvWidth]);
        Add("v", activations, A, (b, t) => [b * t, spec.KvWidth]);
        Add("attention", activations, A, (b, t) => [b * t, spec.QueryWidth]);
        if (spec.FusedQkv) Add("qkv", activations, A, (b, t) => [b * t, 3 * c]);
        Add("mlp", activations, A, (b, t) => [b * t, f]);
        if (spec.Mlp == MlpKind.Gated) Add("mlp_up", activations, A, (b, t) => [b * t, f]);
        if (spec.HasEmbeddingProjection) Add("word_embeddings", activations, A, (b, t) => [b * t, e]);
        Add("ids", DType.I32, A, (b, t) => [b * t]);
        Add("positions", DType.I32, A, (b, t) => [b, t]);
        // Keys a query may attend: the cache's positions when generating, else a prefix's P slots and the call's own.
        int prefix = adapters.PrefixTokens;
        Add("key_mask", DType.I32, A, (b, t) => [b, cacheCapacity > 0 ? cacheCapacity : prefix + t]);
        // The scored rows: gathered, then through the LM head, at most N of them per call.
        Add("rows", DType.I32, A, (b, t) => [b * t]);
        Add("targets", DType.I32, A, (b, t) => [b * t]);
        Add("picked", activations, A, (b, t) => [b * t, e]);
        // The LM head runs over at most this many rows at a time, so a 50k-word vocabulary costs a bounded buffer; at
        // least two, so a lockstep pass can give each stream half.
        int n = maxBatch * maxLength;
        int logitRows = lockstepPartner ? 1 : (int)Math.Clamp(8_388_608L / spec.VocabSize, Math.Min(2, n), n);
        Add("logits", activations, W, (_, _) => [logitRows, spec.VocabSize]);
        Add("row_results", DType.F32, A, (b, t) => [b * t]);
        Add("row_softmax_state", DType.F32, A, (b, t) => [b * t, 3]); // max, Σ exp, target logit
        Add("row_argmax", DType.I32, A, (b, t) => [b * t]);
        // A forward pass under a MeZO perturbation reads each small trainable tensor (norm weights, biases) as
        // θ + scale·z through these two, a weight and its bias at a time; large ones are perturbed inside the ops.
        int small = Math.Max(Math.Max(3 * c, f), Math.Max(spec.QueryWidth, e));
        Add("perturbed_weight", DType.F32, W, (_, _) => [small]);
        Add("perturbed_bias", DType.F32, W, (_, _) => [small]);
        if (adapters.LoraRank > 0)
        {
            // A LoRA bypass, (x·Aᵀ) then its product with Bᵀ, before it is added to the projection's output.
            Add("lora_hidden", activations, A, (b, t) => [b * t, adapters.LoraRank]);
            Add("lora_output", activations, A, (b, t) => [b * t, adapters.LoraOutputWidth]);
        }
        if (prefix > 0)
        {
            // Prefix tuning without a cache: one layer's prefix and real keys and values side by side, as a cache of
            // P + T slots; with a cache, the prefix sits in the cache's first P slots instead.
            if (cacheCapacity == 0)
            {
                Add("prefix_keys", activations, A, (b, t) => [b, prefix + t, spec.NumKvHeads, spec.HeadDim]);
                Add("prefix_values", activations, A, (b, t) => [b, prefix + t, spec.NumKvHeads, spec.HeadDim]);
            }
            // Under a MeZO perturbation the whole prefix is read as θ + scale·z from here, made once per forward call.
            Add("perturbed_prefix", DType.F32, W, (_, _) => [prefix, checked(spec.NumLayers * 2 * spec.KvWidth)]);
        }
        for (int l = 0; cacheCapacity > 0 && l < spec.NumLayers; l++)
        {
            Add(KeyCache(l), activations, A, (b, _) => [b, cacheCapacity, spec.NumKvHeads, spec.HeadDim]);
            Add(ValueCache(l), activations, A, (b, _) => [b, cacheCapacity, spec.NumKvHeads, spec.HeadDim]);
        }
        return new WorkspacePlan(slots);
    }

    public static string KeyCache(int layer) => $"key_cache.{layer}";
    public static string ValueCache(int layer) => $"value_cache.{layer}";
}
