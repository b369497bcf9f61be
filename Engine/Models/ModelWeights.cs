using MeZO.Engine.Backends;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Models.Streaming;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>
/// A model's parameters on one backend, carved out of a single allocation (one number to print, one free), fetched
/// by Hugging Face name with the shapes config.json implies. Parameters keep the checkpoint's dtype unless a storage
/// dtype is asked for. Streamed (<see cref="Streaming.LayerStreaming"/>), the decoder layers' parameters are a second
/// allocation on the host backend and the rest stays on the compute backend, and their MeZO updates wait in
/// <see cref="Pending"/> for each layer's next copy.
/// </summary>
public sealed class ModelWeights : IDisposable
{
    private const int Alignment = 64;
    private readonly Tensor _arena;
    private readonly Tensor? _layerArena;
    private readonly Dictionary<string, Tensor> _byName;

    private ModelWeights(ArchitectureSpec spec, Tensor arena, Tensor? layerArena, Dictionary<string, Tensor> byName,
        IReadOnlyDictionary<string, string>? shardOf, IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> metadataOf,
        IReadOnlyList<string> checkpointNames)
    {
        Spec = spec;
        _arena = arena;
        _layerArena = layerArena;
        _byName = byName;
        ShardOf = shardOf;
        MetadataOf = metadataOf;
        CheckpointNames = checkpointNames;
        var n = spec.Names;
        TokenEmbedding = Get(n.Global(n.TokenEmbedding) + ".weight");
        PositionEmbedding = n.PositionEmbedding is null ? null : Get(n.Global(n.PositionEmbedding) + ".weight");
        ProjectIn = spec.HasEmbeddingProjection ? Get(n.Global(n.ProjectIn!) + ".weight") : null;
        ProjectOut = spec.HasEmbeddingProjection ? Get(n.Global(n.ProjectOut!) + ".weight") : null;
        FinalNorm = spec.FinalNorm ? Get(n.Global(n.FinalNorm!) + ".weight") : null;
        FinalNormBias = spec.FinalNorm ? Find(n.Global(n.FinalNorm!) + ".bias") : null;
        LmHead = spec.TiedLmHead ? TokenEmbedding : Get(n.LmHead + ".weight");
        Layers = Enumerable.Range(0, spec.NumLayers).Select(LoadLayer).ToArray();
        if (layerArena is not null) Pending = new PendingUpdates(Layers);
        Parameters = byName.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new NamedTensor(p.Key, p.Value)).ToArray();
    }

    public ArchitectureSpec Spec { get; }
    /// <summary>Where the model computes; a streamed model's layer parameters live on <see cref="LayerBackend"/>.</summary>
    public IBackend Backend => _arena.Backend;

    /// <summary>The backend that holds the decoder layers' parameters: <see cref="Backend"/> unless streamed.</summary>
    public IBackend LayerBackend => (_layerArena ?? _arena).Backend;

    public Tensor TokenEmbedding { get; }    // (V, E)
    public Tensor? PositionEmbedding { get; } // (maxPositions + offset, C)
    public Tensor? ProjectIn { get; }        // (C, E)
    public Tensor? ProjectOut { get; }       // (E, C)
    public Tensor? FinalNorm { get; }        // (C)
    public Tensor? FinalNormBias { get; }    // (C)
    public Tensor LmHead { get; }            // (V, E); the token embedding when tied
    public IReadOnlyList<LayerWeights> Layers { get; }

    /// <summary>A streamed model's layer updates not yet applied to the host weights; null when resident.</summary>
    internal PendingUpdates? Pending { get; }

    /// <summary>Every parameter once, in ordinal name order: the order in which MeZO's z stream is laid out (DESIGN §3).</summary>
    public IReadOnlyList<NamedTensor> Parameters { get; }

    /// <summary>The names in the source checkpoint (a tied lm_head included if it was stored), for writing the same layout.</summary>
    public IReadOnlyList<string> CheckpointNames { get; }

    /// <summary>Tensor → shard file of a sharded source checkpoint; null for a single file.</summary>
    public IReadOnlyDictionary<string, string>? ShardOf { get; }

    /// <summary>Weight file name (as <see cref="Save(string, IEnumerable{string})"/> names them) → the source file's __metadata__.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> MetadataOf { get; }

    public long ParameterCount => Parameters.Sum(p => p.Tensor.ElementCount);
    public long Bytes => _arena.ByteCount + (_layerArena?.ByteCount ?? 0);

    /// <summary>The tensor stored under a checkpoint name (a stored tied lm_head maps to the embedding).</summary>
    public Tensor Get(string name) => Find(name)
        ?? throw new KeyNotFoundException($"the model has no tensor '{name}'");

    private Tensor? Find(string name)
    {
        if (_byName.TryGetValue(name, out var t)) return t;
        return Spec.TiedLmHead && name == Spec.Names.LmHead + ".weight" ? TokenEmbedding : null;
    }

    private LayerWeights LoadLayer(int l)
    {
        var n = Spec.Names;
        Tensor W(string module) => Get(n.Layer(l, module) + ".weight");
        Tensor? B(string? module) => module is null ? null : Find(n.Layer(l, module) + ".bias");
        Tensor? OptionalW(string? module) => module is null ? null : Find(n.Layer(l, module) + ".weight");
        return new LayerWeights
        {
            AttentionNorm = W(n.AttentionNorm),
            AttentionNormBias = B(n.AttentionNorm),
            Query = OptionalW(n.Query),
            QueryBias = B(n.Query),
            Key = OptionalW(n.Key),
            KeyBias = B(n.Key),
            Value = OptionalW(n.Value),
            ValueBias = B(n.Value),
            FusedQkv = OptionalW(n.FusedQkv),
            FusedQkvBias = B(n.FusedQkv),
            AttentionOutput = W(n.AttentionOutput),
            AttentionOutputBias = B(n.AttentionOutput),
            MlpNorm = W(n.MlpNorm),
            MlpNormBias = B(n.MlpNorm),
            Gate = OptionalW(n.Gate),
            GateBias = B(n.Gate),
            Up = W(n.Up),
            UpBias = B(n.Up),
            Down = W(n.Down),
            DownBias = B(n.Down),
        };
    }

    /// <summary>
    /// Checks the checkpoint against the architecture (missing, unexpected and misshapen tensors are reported by name)
    /// and copies every parameter into one backend allocation, converting to <paramref name="storage"/> if given.
    /// </summary>
    /// <param name="progress">told (bytes read, bytes in all) of the checkpoint after each tensor</param>
    /// <param name="layerHost">where the decoder layers' parameters go instead of <paramref name="backend"/> (streaming), or null</param>
    public static ModelWeights Load(CheckpointReader reader, ArchitectureSpec spec, IBackend backend, DType? storage = null,
        Action<long, long>? progress = null, IBackend? layerHost = null) =>
        Load(reader, spec, backend, storage, StagingBuffer.DefaultChunkBytes, progress, layerHost);

    /// <summary><see cref="Load(CheckpointReader, ArchitectureSpec, IBackend, DType?)"/> in chunks of at most <paramref name="chunkBytes"/> (tests use tiny ones).</summary>
    internal static ModelWeights Load(CheckpointReader reader, ArchitectureSpec spec, IBackend backend, DType? storage, int chunkBytes,
        Action<long, long>? progress = null, IBackend? layerHost = null)
    {
        spec = WeightPlan.ResolvePrefix(reader, spec);
        var plan = WeightPlan.For(spec);
        var expected = plan.Select(w => w.Name).ToHashSet(StringComparer.Ordinal);
        string storedLmHead = spec.Names.LmHead + ".weight";
        foreach (string name in reader.TensorNames)
        {
            bool tiedCopy = spec.TiedLmHead && name == storedLmHead;
            if (!expected.Contains(name) && !tiedCopy && !WeightPlan.IsToleratedBuffer(name))
                throw new InvalidInputException(
                    $"{reader.Directory}: unexpected tensor '{name}' for a {spec.ModelType} model as config.json describes it");
        }

        var layerPrefixes = layerHost is null ? [] : Enumerable.Range(0, spec.NumLayers).Select(l => spec.Names.Layer(l, "")).ToArray();
        bool InLayer(string name) => layerPrefixes.Any(prefix => name.StartsWith(prefix, StringComparison.Ordinal));
        var sources = new List<(ExpectedWeight Weight, CheckpointTensor Source, DType Type, bool Layer, long Offset)>();
        long offset = 0, layerOffset = 0;
        foreach (var w in plan)
        {
            if (!reader.Contains(w.Name))
                throw new InvalidInputException($"{reader.Directory}: tensor '{w.Name}' is missing (config.json's {spec.ModelType} architecture needs it)");
            var source = reader.Get(w.Name);
            if (!source.Shape.SequenceEqual(w.LongShape))
                throw new InvalidInputException(
                    $"{source.FilePath}: tensor '{w.Name}' has shape ({string.Join(", ", source.Shape)}) but config.json implies ({string.Join(", ", w.Shape)})");
            if (!source.DType.IsFloatingPoint())
                throw new InvalidInputException($"{source.FilePath}: tensor '{w.Name}' is {source.DType}; parameters must be F32, F16 or BF16");
            DType type = storage ?? source.DType;
            bool layer = InLayer(w.Name);
            long aligned = (w.ElementCount * type.SizeOf() + Alignment - 1) / Alignment * Alignment;
            sources.Add((w, source, type, layer, layer ? layerOffset : offset));
            if (layer) layerOffset += aligned;
            else offset += aligned;
        }

        var arena = AllocateArena(backend, offset, "weights");
        Tensor? layerArena = null;
        try
        {
            if (layerHost is not null) layerArena = AllocateArena(layerHost, layerOffset, "layer weights");
            using var staging = new StagingBuffer(chunkBytes);
            var byName = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            long total = sources.Sum(s => s.Source.ByteLength), read = 0;
            foreach (var (w, source, type, layer, at) in sources)
            {
                var tensor = (layer ? layerArena! : arena).ViewBytes(at, new TensorShape(w.Shape), type, w.Name);
                WeightCopy.Upload(source, tensor, staging);
                byName.Add(w.Name, tensor);
                progress?.Invoke(read += source.ByteLength, total);
            }
            // Each piece left resident memory as it was copied; this takes the neighbours the kernel mapped back around
            // later reads, so the weights are resident once, in the backend, even while the reader stays open.
            reader.ReleasePages();
            var names = reader.TensorNames.Where(n => !WeightPlan.IsToleratedBuffer(n)).OrderBy(n => n, StringComparer.Ordinal).ToArray();
            var shardOf = reader.WeightFiles.Count > 1 ? reader.ShardOf : null;
            // One file is saved as model.safetensors, whatever the source's single shard was called.
            var metadataOf = shardOf is not null ? reader.MetadataOf
                : new Dictionary<string, IReadOnlyDictionary<string, string>> { [CheckpointReader.SingleFileName] = reader.MetadataOf.Values.Single() };
            return new ModelWeights(spec, arena, layerArena, byName, shardOf, metadataOf, names);
        }
        catch
        {
            layerArena?.Dispose();
            arena.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Every parameter <paramref name="spec"/> expects, in <paramref name="storage"/>, carved out of one allocation as
    /// <see cref="Load(CheckpointReader, ArchitectureSpec, IBackend, DType?, Action{long, long}?, IBackend?)"/> lays it
    /// out, but with no checkpoint: the values are whatever the backend allocates (zeros). For what needs the layout
    /// and not the values: a roofline plan of a model known only by its config.json.
    /// </summary>
    public static ModelWeights Allocate(ArchitectureSpec spec, IBackend backend, DType storage)
    {
        if (!storage.IsFloatingPoint()) throw new ArgumentException($"parameters must be F32, F16 or BF16, not {storage}", nameof(storage));
        var plan = WeightPlan.For(spec);
        var offsets = new long[plan.Count];
        long offset = 0;
        for (int i = 0; i < plan.Count; i++)
        {
            offsets[i] = offset;
            offset += (plan[i].ElementCount * storage.SizeOf() + Alignment - 1) / Alignment * Alignment;
        }
        var arena = AllocateArena(backend, offset, "weights");
        var byName = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int i = 0; i < plan.Count; i++)
            byName.Add(plan[i].Name, arena.ViewBytes(offsets[i], new TensorShape(plan[i].Shape), storage, plan[i].Name));
        var names = plan.Select(w => w.Name).OrderBy(n => n, StringComparer.Ordinal).ToArray();
        var metadataOf = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            [CheckpointReader.SingleFileName] = new Dictionary<string, string>(),
        };
        return new ModelWeights(spec, arena, null, byName, null, metadataOf, names);
    }

    /// <summary>One allocation of at least <paramref name="bytes"/>; its shape only sizes it (rows of 4 KiB), tensors are carved out by byte offset.</summary>
    internal static Tensor AllocateArena(IBackend backend, long bytes, string name)
    {
        const int RowBytes = 4096;
        long rows = Math.Max(1, (bytes + RowBytes - 1) / RowBytes);
        return backend.Allocate(new TensorShape(checked((int)rows), RowBytes / 4), DType.I32, MemoryCategory.Weights, name);
    }

    /// <summary>
    /// Writes the weights as a Hugging Face model folder with the source's names, shard layout and safetensors metadata, in
    /// their storage dtype (config.json's torch_dtype says which), atomically
    /// (a crash or a full disk leaves any previous folder intact). <paramref name="extraFiles"/> (config.json,
    /// tokenizer.json, ...) are copied in. Each tensor goes from the backend to the file in bounded chunks through one
    /// native staging buffer: no tensor-sized host copy, whatever the tensor's size.
    /// </summary>
    public void Save(string directory, IEnumerable<string> extraFiles) => Save(directory, extraFiles, StagingBuffer.DefaultChunkBytes);

    /// <summary><see cref="Save(string, IEnumerable{string})"/> in chunks of at most <paramref name="chunkBytes"/>.</summary>
    internal void Save(string directory, IEnumerable<string> extraFiles, int chunkBytes)
    {
        ApplyPendingUpdates();
        using var staging = new StagingBuffer(chunkBytes);
        var tensors = CheckpointNames.Select(name =>
        {
            var t = Get(name);
            return TensorToWrite.FromWriter(name, t.DType, t.Shape.ToLongArray(), stream => WeightCopy.Download(t, stream, staging));
        }).ToArray();
        CheckpointWriter.WriteModelFolder(directory, tensors, ShardOf, extraFiles, MetadataOf);
    }

    /// <summary>
    /// Overwrites every parameter with the same-named tensor of a saved folder (a checkpoint of this model: same names,
    /// shapes and dtypes, else an error naming the tensor), chunk by chunk straight from the file mapping.
    /// </summary>
    public void Restore(string directory) => Restore(directory, StagingBuffer.DefaultChunkBytes);

    /// <summary><see cref="Restore(string)"/> in chunks of at most <paramref name="chunkBytes"/>.</summary>
    internal void Restore(string directory, int chunkBytes)
    {
        // Applied first, so none lands later on the restored weights.
        ApplyPendingUpdates();
        using var reader = CheckpointReader.Open(directory);
        using var staging = new StagingBuffer(chunkBytes);
        foreach (var p in Parameters)
        {
            var source = reader.Get(p.Name);
            if (source.DType != p.Tensor.DType || !source.Shape.SequenceEqual(p.Tensor.Shape.ToLongArray()))
                throw new InvalidInputException(
                    $"{source.FilePath}: tensor '{p.Name}' is {source.DType} ({string.Join(", ", source.Shape)}), the model holds {p.Tensor.DType} {p.Tensor.Shape}");
            WeightCopy.Upload(source, p.Tensor, staging);
        }
    }

    /// <summary>
    /// Brings a streamed model's host weights up to date: its layers' MeZO updates wait for the layer's next copy to the
    /// device, so call this before reading them other than through a forward pass. Save and Restore call it.
    /// </summary>
    public void ApplyPendingUpdates() => Pending?.ApplyAll();

    public void Dispose()
    {
        Pending?.Abandon();
        _layerArena?.Dispose();
        _arena.Dispose();
    }
}
