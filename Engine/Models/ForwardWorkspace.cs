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
    private readonly List<Tensor> _owned = [];
    private readonly Dictionary<(int Batch, int Length), ForwardViews> _views = [];

    internal ForwardWorkspace(ArchitectureSpec spec, IBackend backend, int maxBatch, int maxLength, int cacheCapacity,
        bool lockstepPartner = false)
    {
        if (maxBatch <= 0 || maxLength <= 0)
            throw new ArgumentOutOfRangeException(nameof(maxBatch), "a workspace needs a positive batch and length");
        Spec = spec;
        Backend = backend;
        MaxBatch = maxBatch;
        MaxLength = maxLength;
        CacheCapacity = cacheCapacity;
        var made = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var b in Plan(spec, maxBatch, maxLength, cacheCapacity, lockstepPartner))
        {
            var t = backend.Allocate(new TensorShape(b.Dims), b.Type, b.Category, b.Name);
            _owned.Add(t);
            made.Add(b.Name, t);
        }
        Tensor? Optional(string name) => made.GetValueOrDefault(name);
        Hidden = made["hidden"];
        Normed = made["normed"];
        Output = made["block_output"];
        Query = made["q"];
        Key = made["k"];
        Value = made["v"];
        AttentionOut = made["attention"];
        FusedQkv = Optional("qkv");
        Mlp = made["mlp"];
        MlpUp = Optional("mlp_up");
        Embedded = Optional("word_embeddings");
        Ids = made["ids"];
        Positions = made["positions"];
        KeyMask = made["key_mask"];
        Rows = made["rows"];
        Targets = made["targets"];
        Picked = made["picked"];
        Logits = made["logits"];
        LogitRows = Logits.Shape[0];
        RowResults = made["row_results"];
        RowSoftmaxState = made["row_softmax_state"];
        RowIndices = made["row_argmax"];
        PerturbedWeight = made["perturbed_weight"];
        PerturbedBias = made["perturbed_bias"];
        if (cacheCapacity > 0)
        {
            KeyCache = Enumerable.Range(0, spec.NumLayers).Select(l => made[$"key_cache.{l}"]).ToArray();
            ValueCache = Enumerable.Range(0, spec.NumLayers).Select(l => made[$"value_cache.{l}"]).ToArray();
        }
    }

    /// <summary>One buffer of the workspace.</summary>
    internal readonly record struct BufferSpec(string Name, DType Type, MemoryCategory Category, int[] Dims)
    {
        public long Bytes => Dims.Aggregate((long)Type.SizeOf(), (a, d) => a * d);
    }

    /// <summary>Every buffer a workspace of this size holds; the same list sizes an estimate without allocating.</summary>
    /// <param name="lockstepPartner">
    /// the −ε stream of a lockstep pass, whose LM head writes into half of the +ε workspace's logits buffer: it keeps a
    /// one-row buffer of its own, so the second stream costs its activations and no second logits buffer
    /// </param>
    internal static IEnumerable<BufferSpec> Plan(ArchitectureSpec spec, int maxBatch, int maxLength, int cacheCapacity,
        bool lockstepPartner = false)
    {
        int n = maxBatch * maxLength, c = spec.HiddenSize, f = spec.IntermediateSize;
        const MemoryCategory A = MemoryCategory.Activations;
        yield return new("hidden", DType.F32, A, [n, c]);
        yield return new("normed", DType.F32, A, [n, c]);
        yield return new("block_output", DType.F32, A, [n, c]);
        yield return new("q", DType.F32, A, [n, spec.QueryWidth]);
        yield return new("k", DType.F32, A, [n, spec.KvWidth]);
        yield return new("v", DType.F32, A, [n, spec.KvWidth]);
        yield return new("attention", DType.F32, A, [n, spec.QueryWidth]);
        if (spec.FusedQkv) yield return new("qkv", DType.F32, A, [n, 3 * c]);
        yield return new("mlp", DType.F32, A, [n, f]);
        if (spec.Mlp == MlpKind.Gated) yield return new("mlp_up", DType.F32, A, [n, f]);
        if (spec.HasEmbeddingProjection) yield return new("word_embeddings", DType.F32, A, [n, spec.WordEmbeddingSize]);
        yield return new("ids", DType.I32, A, [n]);
        yield return new("positions", DType.I32, A, [n]);
        int keys = cacheCapacity > 0 ? cacheCapacity : maxLength;
        yield return new("key_mask", DType.I32, A, [maxBatch * keys]);
        yield return new("rows", DType.I32, A, [n]);
        yield return new("targets", DType.I32, A, [n]);
        yield return new("picked", DType.F32, A, [n, spec.WordEmbeddingSize]);
        // The LM head runs over at most this many rows at a time, so a 50k-word vocabulary costs a bounded buffer; at
        // least two, so a lockstep pass can give each stream half.
        int logitRows = lockstepPartner ? 1 : (int)Math.Clamp(8_388_608L / spec.VocabSize, Math.Min(2, n), n);
        yield return new("logits", DType.F32, MemoryCategory.Workspace, [logitRows, spec.VocabSize]);
        yield return new("row_results", DType.F32, A, [n]);
        yield return new("row_softmax_state", DType.F32, A, [n, 3]);
        yield return new("row_argmax", DType.I32, A, [n]);
        // A forward pass under a MeZO perturbation reads each small trainable tensor (norm weights, biases) as
        // θ + scale·z through these two, a weight and its bias at a time; large ones are perturbed inside the ops.
        int small = Math.Max(Math.Max(3 * c, f), Math.Max(spec.QueryWidth, spec.WordEmbeddingSize));
        yield return new("perturbed_weight", DType.F32, MemoryCategory.Workspace, [small]);
        yield return new("perturbed_bias", DType.F32, MemoryCategory.Workspace, [small]);
        for (int l = 0; cacheCapacity > 0 && l < spec.NumLayers; l++)
        {
            yield return new($"key_cache.{l}", DType.F32, A, [maxBatch, cacheCapacity, spec.NumKvHeads, spec.HeadDim]);
            yield return new($"value_cache.{l}", DType.F32, A, [maxBatch, cacheCapacity, spec.NumKvHeads, spec.HeadDim]);
        }
    }

    /// <summary>Bytes a workspace of this size would hold.</summary>
    public static long EstimateBytes(ArchitectureSpec spec, int maxBatch, int maxLength, int cacheCapacity = 0) =>
        Plan(spec, maxBatch, maxLength, cacheCapacity).Sum(b => b.Bytes);

    public ArchitectureSpec Spec { get; }
    public IBackend Backend { get; }
    public int MaxBatch { get; }
    public int MaxLength { get; }
    /// <summary>Positions the KV cache holds per sequence; 0 for a workspace without a cache (scoring, training).</summary>
    public int CacheCapacity { get; }
    public int LogitRows { get; }

    internal Tensor Hidden { get; }       // (N, C) residual stream
    internal Tensor Normed { get; }       // (N, C)
    internal Tensor Output { get; }       // (N, C) attention or MLP output before the residual add
    internal Tensor Query { get; }        // (N, H·D)
    internal Tensor Key { get; }          // (N, KVH·D)
    internal Tensor Value { get; }        // (N, KVH·D)
    internal Tensor AttentionOut { get; } // (N, H·D)
    internal Tensor? FusedQkv { get; }    // (N, 3C)
    internal Tensor Mlp { get; }          // (N, F)
    internal Tensor? MlpUp { get; }       // (N, F)
    internal Tensor? Embedded { get; }    // (N, E)
    internal Tensor Ids { get; }          // (N) I32
    internal Tensor Positions { get; }    // (N) I32
    internal Tensor KeyMask { get; }      // (B·Tk) I32
    internal Tensor Rows { get; }         // (N) I32
    internal Tensor Targets { get; }      // (N) I32
    internal Tensor Picked { get; }       // (N, E)
    internal Tensor Logits { get; }       // (LogitRows, V)
    internal Tensor RowResults { get; }   // (N) F32
    internal Tensor RowSoftmaxState { get; } // (N, 3) F32: max, Σ exp, target logit
    internal Tensor RowIndices { get; }   // (N) I32
    internal Tensor PerturbedWeight { get; } // (max small parameter) F32
    internal Tensor PerturbedBias { get; }   // (max small parameter) F32
    internal Tensor[]? KeyCache { get; }  // L × (B, Tc, KVH, D)
    internal Tensor[]? ValueCache { get; }

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

    /// <summary>Bytes this workspace holds.</summary>
    public long Bytes => _owned.Sum(t => t.ByteCount);

    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
        _views.Clear();
    }
}
