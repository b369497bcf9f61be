using MeZO.Engine.Adapters;
using MeZO.Engine.Backends;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models.Streaming;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>
/// The decoder-only transformer of every supported family; the differences between families are data in
/// <see cref="ArchitectureSpec"/>. The forward pass is straight-line code over backend ops, one layer's activations
/// alive at a time, and the LM head runs only at the rows that need logits.
/// </summary>
public sealed class Transformer : IDisposable
{
    private Transformer(string directory, ModelWeights weights, long? deviceBudget, DType compute)
    {
        Directory = directory;
        Weights = weights;
        Compute = compute;
        if (deviceBudget is not { } budget) return;
        _streamed = new StreamedLayers(weights, weights.Backend, budget, directory);
        try
        {
            // Made now, so the budget counts it before any workspace is sized.
            if (Spec.Positions == PositionKind.Rotary) RopeTable();
            _streamed.CheckBudget();
        }
        catch
        {
            _ropeTable?.Dispose();
            _streamed.Dispose();
            throw;
        }
    }

    /// <summary>The layers copied to the device as each runs (<see cref="LayerStreaming"/>), or null when resident.</summary>
    private readonly StreamedLayers? _streamed;

    /// <summary>Whether the decoder layers live on the host and are copied in as each runs (<see cref="LayerStreaming"/>).</summary>
    public bool StreamsLayers => _streamed is not null;

    public string Directory { get; }
    public ModelWeights Weights { get; }

    /// <summary>
    /// The dtype of the activations, logits and KV cache of every workspace (<see cref="IBackend"/>'s rounding points):
    /// F32, or BF16/F16 with float32 arithmetic inside each op.
    /// </summary>
    public DType Compute { get; }
    public ArchitectureSpec Spec => Weights.Spec;
    public IBackend Backend => Weights.Backend;

    /// <summary>
    /// A LoRA adapter the forward pass adds to its projections (null: none). Workspaces are sized for the adapter
    /// attached when they are created; the model never owns it.
    /// </summary>
    public LoraAdapter? Lora
    {
        get => _lora;
        set
        {
            if (value is not null && value.Modules.Any(m => !Weights.Parameters.Any(p => ReferenceEquals(p.Tensor, m.Base))))
                throw new ArgumentException("the LoRA adapter was made for another model's weights", nameof(value));
            _lora = value;
        }
    }

    private LoraAdapter? _lora;


    /// <summary>Loads config.json and the safetensors weights of a Hugging Face model folder onto a backend.</summary>
    /// <param name="progress">told (bytes read, bytes in all) of the weights as they load</param>
    /// <param name="streaming">keeps the decoder layers on a host backend and streams them through <paramref name="backend"/>, or null</param>
    /// <param name="compute">the activations' dtype (<see cref="Compute"/>); when null, the backend's default for the weights' dtype</param>
    /// <exception cref="InvalidInputException">the resident part of a streamed model and its two layer slots exceed the budget.</exception>
    public static Transformer Load(string modelDirectory, IBackend backend, DType? storage = null, Action<long, long>? progress = null,
        LayerStreaming? streaming = null, DType? compute = null)
    {
        if (compute is { } c && !c.IsFloatingPoint())
            throw new ArgumentException($"the compute dtype must be F32, BF16 or F16, not {c}", nameof(compute));
        var spec = ModelConfigReader.Read(modelDirectory);
        using var reader = CheckpointReader.Open(modelDirectory);
        var weights = ModelWeights.Load(reader, spec, backend, storage, progress, streaming?.Host);
        try
        {
            return new Transformer(Path.GetFullPath(modelDirectory), weights, streaming?.DeviceBudget,
                compute ?? backend.DefaultCompute(weights.TokenEmbedding.DType));
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The model config.json describes, with every parameter allocated in <paramref name="storage"/> but none read
    /// (<see cref="ModelWeights.Allocate"/>): no weights or tokenizer needed. Its outputs mean nothing; what it is for is
    /// running the engine's code over a backend that only records what it is asked to do (a roofline plan).
    /// </summary>
    public static Transformer FromConfig(string modelDirectory, IBackend backend, DType storage, DType? compute = null) =>
        new(Path.GetFullPath(modelDirectory), ModelWeights.Allocate(ModelConfigReader.Read(modelDirectory), backend, storage), deviceBudget: null,
            compute ?? backend.DefaultCompute(storage));

    /// <summary>
    /// The prefix (prefix tuning) every forward call reads as a KV cache of its P tokens before the real ones, or null.
    /// Workspaces carry the prefix's slots: create them after setting it. The model does not own it.
    /// </summary>
    /// <exception cref="ArgumentException">the prefix was made for another number of layers, key width or backend.</exception>
    public PrefixAdapter? Prefix
    {
        get => _prefix;
        set
        {
            if (value is not null && (value.Layers != Spec.NumLayers || value.KvWidth != Spec.KvWidth || value.Embeddings.Backend != Backend))
                throw new ArgumentException(
                    $"a prefix of {value.Layers} layers × key width {value.KvWidth} does not fit {Directory} ({Spec.NumLayers} layers × {Spec.KvWidth}, on its own backend)");
            _prefix = value;
        }
    }

    private PrefixAdapter? _prefix;

    private int PrefixTokens => _prefix?.Tokens ?? 0;

    /// <summary>The buffers the attached adapters add to a workspace (and to a gradient's, <see cref="Gradients.ModelGradient.EstimateWorkingBytes"/>).</summary>
    public AdapterSlots Adapters => new(Lora?.Rank ?? 0, Lora?.MaxOutput ?? 0, PrefixTokens);

    /// <summary>Scratch for up to <paramref name="maxBatch"/> sequences of <paramref name="maxLength"/> new tokens per call.</summary>
    /// <exception cref="InvalidInputException">a streamed model's device budget cannot hold it.</exception>
    public ForwardWorkspace CreateWorkspace(int maxBatch, int maxLength, int cacheCapacity = 0) =>
        WithinBudget(new ForwardWorkspace(Spec, Backend, maxBatch, maxLength, cacheCapacity, Compute, adapters: Adapters));

    /// <summary>
    /// The −ε stream's workspace for <see cref="ScoreTokensLockstep"/>, beside a <see cref="CreateWorkspace"/> one of
    /// the same size: its own activations, but no logits buffer (the LM head of a lockstep pass splits the other's).
    /// </summary>
    public ForwardWorkspace CreateLockstepWorkspace(int maxBatch, int maxLength) =>
        WithinBudget(new ForwardWorkspace(Spec, Backend, maxBatch, maxLength, cacheCapacity: 0, Compute, lockstepPartner: true,
            adapters: Adapters));

    private ForwardWorkspace WithinBudget(ForwardWorkspace ws)
    {
        try
        {
            _streamed?.CheckBudget();
            return ws;
        }
        catch
        {
            ws.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs the batch and returns log p(targets[i] | tokens up to rows[i]) for each (row, target) pair, where a row is a
    /// flat index b·T + t into the batch (see <see cref="TokenBatch.Row"/>). Under a <paramref name="perturbation"/>
    /// the pass computes with θ + scale·z without writing θ. Non-finite results are returned as they are: training
    /// reports them with the step (a non-finite loss), evaluation through its scores.
    /// </summary>
    public void ScoreTokens(ForwardWorkspace ws, TokenBatch batch, ReadOnlySpan<int> rows, ReadOnlySpan<int> targets, Span<float> logProbs,
        WeightPerturbation? perturbation = null)
    {
        CheckScoring(rows, targets, logProbs);
        ReadOnlySpan<Stream> streams = [new(ws.ViewsFor(batch.BatchSize, batch.Length), perturbation)];
        LogProbsAtRows(streams, Forward(streams, batch), rows, targets, logProbs, []);
    }

    /// <summary>
    /// MeZO's two losses in one sweep: <see cref="ScoreTokens"/> of the batch under <paramref name="plus"/> (into
    /// <paramref name="plusLogProbs"/>, with <paramref name="plusWs"/>) and under its −ε twin (into
    /// <paramref name="minusLogProbs"/>, with <paramref name="minusWs"/>), layer by layer in lockstep, so each large
    /// weight's z is generated once for both signs. Each result equals the one ScoreTokens gives under that perturbation.
    /// <paramref name="minusWs"/> may be a <see cref="CreateLockstepWorkspace"/> one: the LM head then splits
    /// <paramref name="plusWs"/>'s logits buffer between the streams.
    /// </summary>
    public void ScoreTokensLockstep(ForwardWorkspace plusWs, ForwardWorkspace minusWs, TokenBatch batch, ReadOnlySpan<int> rows,
        ReadOnlySpan<int> targets, WeightPerturbation plus, Span<float> plusLogProbs, Span<float> minusLogProbs)
    {
        CheckScoring(rows, targets, plusLogProbs);
        CheckScoring(rows, targets, minusLogProbs);
        if (ReferenceEquals(plusWs, minusWs)) throw new ArgumentException("the two streams need workspaces of their own");
        ReadOnlySpan<Stream> streams =
        [
            new(plusWs.ViewsFor(batch.BatchSize, batch.Length), plus),
            new(minusWs.ViewsFor(batch.BatchSize, batch.Length), MezoStep.Minus(plus)),
        ];
        LogProbsAtRows(streams, Forward(streams, batch), rows, targets, plusLogProbs, minusLogProbs);
    }

    /// <summary>Runs the batch and returns the logits (rows × V) at the given flat rows.</summary>
    /// <exception cref="NonFiniteForwardException">a logit is NaN or ±∞.</exception>
    public void LogitsAt(ForwardWorkspace ws, TokenBatch batch, ReadOnlySpan<int> rows, Span<float> logits)
    {
        CheckLogitsLength(rows, logits);
        ReadOnlySpan<Stream> streams = [new(ws.ViewsFor(batch.BatchSize, batch.Length), null)];
        LogitsAtRows(streams[0], Forward(streams, batch)[0], rows, logits);
        NonFiniteForwardException.ThrowIfAny(Directory, logits, "logits");
    }

    /// <summary>
    /// <see cref="ScoreTokens"/> and <see cref="LogitsAt"/> from one forward pass: the log-probabilities of the targets
    /// at <paramref name="rows"/>, and the logits (logitRows × V) at <paramref name="logitRows"/>.
    /// </summary>
    /// <exception cref="NonFiniteForwardException">a logit or a log-probability is NaN or ±∞.</exception>
    public void ScoreTokensAndLogits(ForwardWorkspace ws, TokenBatch batch, ReadOnlySpan<int> rows, ReadOnlySpan<int> targets,
        Span<float> logProbs, ReadOnlySpan<int> logitRows, Span<float> logits)
    {
        CheckScoring(rows, targets, logProbs);
        CheckLogitsLength(logitRows, logits);
        ReadOnlySpan<Stream> streams = [new(ws.ViewsFor(batch.BatchSize, batch.Length), null)];
        var final = Forward(streams, batch);
        LogProbsAtRows(streams, final, rows, targets, logProbs, []);
        LogitsAtRows(streams[0], final[0], logitRows, logits);
        NonFiniteForwardException.ThrowIfAny(Directory, logProbs, "log-probabilities");
        NonFiniteForwardException.ThrowIfAny(Directory, logits, "logits");
    }

    private void CheckScoring(ReadOnlySpan<int> rows, ReadOnlySpan<int> targets, Span<float> logProbs)
    {
        if (rows.Length != targets.Length || rows.Length != logProbs.Length)
            throw new ArgumentException("rows, targets and logProbs must have the same length");
        foreach (int t in targets) CheckToken(t);
    }

    private void CheckLogitsLength(ReadOnlySpan<int> rows, Span<float> logits)
    {
        if (logits.Length != rows.Length * Spec.VocabSize)
            throw new ArgumentException($"logits must hold {rows.Length} × {Spec.VocabSize} values");
    }

    private void LogitsAtRows(Stream stream, Tensor final, ReadOnlySpan<int> rows, Span<float> logits)
    {
        var ws = stream.Views.Workspace;
        ReadOnlySpan<Stream> one = [stream];
        PickRows(ws, final, rows);
        for (int start = 0; start < rows.Length; start += ws.LogitRows)
        {
            int count = Math.Min(ws.LogitRows, rows.Length - start);
            LmHead(one, start, count, ws.Logits, ws.LogitRows);
            if (ws.Observer is { } observer) observer.Seen("logits", -1, LogitsOf(ws.Logits, 0, ws.LogitRows, count));
            HostValues.Read(LogitsOf(ws.Logits, 0, ws.LogitRows, count), logits.Slice(start * Spec.VocabSize, count * Spec.VocabSize));
        }
    }

    /// <summary>The forward pass of a whole batch without a cache, every stream over the same tokens; the final hidden states (N, E) of each.</summary>
    private Tensor[] Forward(ReadOnlySpan<Stream> streams, TokenBatch batch)
    {
        int p = PrefixTokens;
        if (p > 0) CheckPrefixFits(batch.Length);
        var mask = p == 0 ? batch.Mask : PrefixMask(batch, p);
        foreach (var s in streams)
        {
            CheckAdapters(s.Views.Workspace);
            Backend.Upload<int>(s.Views.KeyMask, mask);
        }
        return Run(streams, batch.Ids, Spec.PositionsOf(batch, p), pastLength: 0);
    }

    /// <summary>
    /// The forward call of the backward pass (<see cref="Gradients.ModelGradient"/>): the batch at θ, every intermediate
    /// tensor shown to the workspace's observer, which keeps what the backward reads; returns the final hidden states (N, E).
    /// </summary>
    internal Tensor HiddenStates(ForwardWorkspace ws, TokenBatch batch) =>
        Forward([new Stream(ws.ViewsFor(batch.BatchSize, batch.Length), null)], batch)[0];

    /// <summary>
    /// Gradient checkpointing's recomputation: layer <paramref name="l"/> again from its kept input (N, C), in the
    /// workspace of the last <see cref="HiddenStates"/> call on the same batch (whose ids, positions and mask it reuses).
    /// </summary>
    internal void RecomputeLayer(ForwardWorkspace ws, TokenBatch batch, int l, Tensor input)
    {
        var v = ws.ViewsFor(batch.BatchSize, batch.Length);
        Backend.SliceColumns(input, 0, v.Hidden);
        _streamed?.BeginCall();
        Layer([new Stream(v, null)], l, pastLength: 0);
    }

    /// <summary>The key mask (B, P + T) of a call that reads the prefix: its P slots attended by every token, then the batch's own.</summary>
    private static int[] PrefixMask(TokenBatch batch, int p)
    {
        int t = batch.Length;
        var mask = new int[batch.BatchSize * (p + t)];
        for (int b = 0; b < batch.BatchSize; b++)
        {
            mask.AsSpan(b * (p + t), p).Fill(1);
            batch.Mask.AsSpan(b * t, t).CopyTo(mask.AsSpan(b * (p + t) + p));
        }
        return mask;
    }

    /// <summary>
    /// The prefix's P positions come before the real tokens' (transformers numbers them after a cache of length P), so
    /// P + length must fit the model's positions, learned or rotary.
    /// </summary>
    internal void CheckPrefixFits(long length)
    {
        if (PrefixTokens + length > Spec.MaxPositions)
            throw new InvalidInputException(
                $"{PrefixTokens} prefix tokens plus a sequence of {length} tokens exceed the {Spec.MaxPositions} positions of {Directory}");
    }

    /// <summary>One unperturbed or singly perturbed forward call; see <see cref="Run(ReadOnlySpan{Stream}, ReadOnlySpan{int}, ReadOnlySpan{int}, int)"/>.</summary>
    internal Tensor Run(ForwardViews v, ReadOnlySpan<int> ids, ReadOnlySpan<int> positions, int pastLength, WeightPerturbation? perturbation = null) =>
        Run([new Stream(v, perturbation)], ids, positions, pastLength)[0];

    /// <summary>
    /// One forward call over <paramref name="ids"/> (B, T) at <paramref name="positions"/> for each stream (one, or
    /// MeZO's +ε and −ε in lockstep: every op runs for both before the next, so a weight is read — and its z made —
    /// once for both); the key masks must already be uploaded. With a cache, keys and values are appended at
    /// <paramref name="pastLength"/> and attention reads the cache. Returns each stream's final hidden states (N, E).
    /// </summary>
    internal Tensor[] Run(ReadOnlySpan<Stream> streams, ReadOnlySpan<int> ids, ReadOnlySpan<int> positions, int pastLength)
    {
        var s = Spec;
        var w = Weights;
        foreach (int id in ids) CheckToken(id);
        CheckPositions(positions);
        foreach (var st in streams)
        {
            CheckAdapters(st.Views.Workspace);
            Backend.Upload(st.Views.Ids, ids);
            Backend.Upload(st.Views.Positions, positions);
            // With a cache the prefix is already in its first P slots (WritePrefixToCache).
            if (st.Views.PrefixKeys is not null) LoadPrefix(st);
        }

        // Embeddings: tokens (projected up for OPT-350m), plus learned positions.
        foreach (var st in streams)
        {
            var v = st.Views;
            Embedding(st, w.TokenEmbedding, v.Ids, w.ProjectIn is null ? v.Hidden : v.Embedded!, accumulate: false);
        }
        Seen(streams, w.ProjectIn is null && w.PositionEmbedding is null ? "embed" : "token_embed", -1,
            w.ProjectIn is null ? static v => v.Hidden : static v => v.Embedded!);
        if (w.ProjectIn is not null)
        {
            Linear(streams, static v => v.Embedded!, w.ProjectIn, null, static v => v.Hidden);
            Seen(streams, w.PositionEmbedding is null ? "embed" : "project_in", -1, static v => v.Hidden);
        }
        if (w.PositionEmbedding is not null)
        {
            foreach (var st in streams) Embedding(st, w.PositionEmbedding, st.Views.Positions, st.Views.Hidden, accumulate: true);
            Seen(streams, "embed", -1, static v => v.Hidden);
        }

        _streamed?.BeginCall();
        for (int l = 0; l < s.NumLayers; l++) Layer(streams, l, pastLength);

        bool normed = w.FinalNorm is not null;
        if (normed)
            foreach (var st in streams)
            {
                Norm(st, st.Views.Hidden, w.FinalNorm!, w.FinalNormBias, st.Views.Normed);
                Seen(st, "final_norm", -1, st.Views.Normed);
            }
        if (w.ProjectOut is not null)
        {
            Linear(streams, normed ? static v => v.Normed : static v => v.Hidden, w.ProjectOut, null, static v => v.Embedded!);
            Seen(streams, "project_out", -1, static v => v.Embedded!);
            return Finals(streams, static v => v.Embedded!);
        }
        return Finals(streams, normed ? static v => v.Normed : static v => v.Hidden);
    }

    /// <summary>
    /// Layer <paramref name="l"/> of a forward call: reads each stream's residual stream (Hidden) and leaves the layer's
    /// output there. The call's ids, positions and masks are already uploaded.
    /// </summary>
    private void Layer(ReadOnlySpan<Stream> streams, int l, int pastLength)
    {
        var layer = _streamed?.Acquire(l) ?? Weights.Layers[l];
        if (Spec.PreNorm)
        {
            foreach (var st in streams)
            {
                Norm(st, st.Views.Hidden, layer.AttentionNorm, layer.AttentionNormBias, st.Views.Normed);
                Seen(st, "attn_norm", l, st.Views.Normed);
            }
            bool attentionAdds = Attention(streams, l, layer, static v => v.Normed, pastLength);
            foreach (var st in streams)
            {
                if (!attentionAdds) Backend.Add(st.Views.Hidden, st.Views.Output);
                Seen(st, "attn_residual", l, st.Views.Hidden);
            }
            foreach (var st in streams)
            {
                Norm(st, st.Views.Hidden, layer.MlpNorm, layer.MlpNormBias, st.Views.Normed);
                Seen(st, "ffn_norm", l, st.Views.Normed);
            }
            bool mlpAdds = Mlp(streams, l, layer, static v => v.Normed);
            foreach (var st in streams)
            {
                if (!mlpAdds) Backend.Add(st.Views.Hidden, st.Views.Output);
                Seen(st, "ffn_residual", l, st.Views.Hidden);
            }
        }
        else
        {
            // OPT-350m: the norm follows each residual add.
            bool attentionAdds = Attention(streams, l, layer, static v => v.Hidden, pastLength);
            foreach (var st in streams)
            {
                if (!attentionAdds) Backend.Add(st.Views.Hidden, st.Views.Output);
                Seen(st, "attn_residual", l, st.Views.Hidden);
                Norm(st, st.Views.Hidden, layer.AttentionNorm, layer.AttentionNormBias, st.Views.Hidden);
                Seen(st, "attn_norm", l, st.Views.Hidden);
            }
            bool mlpAdds = Mlp(streams, l, layer, static v => v.Hidden);
            foreach (var st in streams)
            {
                if (!mlpAdds) Backend.Add(st.Views.Hidden, st.Views.Output);
                Seen(st, "ffn_residual", l, st.Views.Hidden);
                Norm(st, st.Views.Hidden, layer.MlpNorm, layer.MlpNormBias, st.Views.Hidden);
                Seen(st, "ffn_norm", l, st.Views.Hidden);
            }
        }
    }

    /// <summary>Shows a stream's tensor to its workspace's observer, if it has one (IForwardObserver lists the names).</summary>
    private static void Seen(Stream st, string name, int layer, Tensor tensor) => st.Views.Workspace.Observer?.Seen(name, layer, tensor);

    /// <summary>Each stream's tensor to its own observer; the view is fetched only for a stream that has one.</summary>
    private static void Seen(ReadOnlySpan<Stream> streams, string name, int layer, Func<ForwardViews, Tensor> tensor)
    {
        foreach (var st in streams)
            if (st.Views.Workspace.Observer is { } observer) observer.Seen(name, layer, tensor(st.Views));
    }

    private static Tensor[] Finals(ReadOnlySpan<Stream> streams, Func<ForwardViews, Tensor> final)
    {
        var result = new Tensor[streams.Length];
        for (int i = 0; i < streams.Length; i++) result[i] = final(streams[i].Views);
        return result;
    }

    /// <summary>
    /// The attention block into each stream's Output, or, when this returns true, added into Hidden by its output
    /// projection (Output is then unspecified).
    /// </summary>
    private bool Attention(ReadOnlySpan<Stream> streams, int l, LayerWeights layer, Func<ForwardViews, Tensor> x, int pastLength)
    {
        var s = Spec;
        if (layer.FusedQkv is not null)
        {
            Linear(streams, x, layer.FusedQkv, layer.FusedQkvBias, static v => v.FusedQkv!);
            Seen(streams, "qkv", l, static v => v.FusedQkv!);
            foreach (var st in streams)
            {
                var v = st.Views;
                Backend.SliceColumns(v.FusedQkv!, 0, v.Query);
                Seen(st, "q", l, v.Query);
                Backend.SliceColumns(v.FusedQkv!, s.HiddenSize, v.Key);
                Seen(st, "k", l, v.Key);
                Backend.SliceColumns(v.FusedQkv!, 2 * s.HiddenSize, v.Value);
                Seen(st, "v", l, v.Value);
            }
        }
        else
        {
            Linear(streams, x, layer.Query!, layer.QueryBias, static v => v.Query);
            Seen(streams, "q", l, static v => v.Query);
            Linear(streams, x, layer.Key!, layer.KeyBias, static v => v.Key);
            Seen(streams, "k", l, static v => v.Key);
            Linear(streams, x, layer.Value!, layer.ValueBias, static v => v.Value);
            Seen(streams, "v", l, static v => v.Value);
        }
        foreach (var st in streams)
        {
            var v = st.Views;
            if (s.Positions == PositionKind.Rotary)
            {
                var inv = RopeTable();
                Backend.Rope(v.QueryHeads, v.Positions, inv);
                Seen(st, "q_rope", l, v.Query);
                Backend.Rope(v.KeyHeads, v.Positions, inv);
                Seen(st, "k_rope", l, v.Key);
            }
            Tensor keys = v.KeyHeads, values = v.ValueHeads;
            int past = pastLength;
            if (v.KeyCache is not null)
            {
                Backend.KvAppend(v.KeyHeads, v.ValueHeads, v.KeyCache[l], v.ValueCache![l], pastLength);
                keys = v.KeyCache[l];
                values = v.ValueCache[l];
            }
            else if (v.PrefixKeys is not null)
            {
                // Without a cache these buffers are one of P + T slots: layer l's prefix in front of each sequence, the call's keys after.
                var prefix = PrefixOf(st);
                for (int b = 0; b < v.Batch; b++)
                {
                    Backend.SliceColumns(prefix, _prefix!.KeyColumn(l), v.PrefixKeyRows![b]);
                    Backend.SliceColumns(prefix, _prefix.KeyColumn(l) + s.KvWidth, v.PrefixValueRows![b]);
                }
                past = _prefix!.Tokens;
                Backend.KvAppend(v.KeyHeads, v.ValueHeads, v.PrefixKeys, v.PrefixValues!, past);
                keys = v.PrefixKeys;
                values = v.PrefixValues!;
            }
            Backend.Attention(v.QueryHeads, keys, values, v.KeyMask, past, s.AttentionScale(l), s.AttentionWindow(l),
                v.AttentionHeads);
            Seen(st, "attn_context", l, v.AttentionOut);
        }
        bool adds = Fuses(streams, layer.AttentionOutput);
        Linear(streams, static v => v.AttentionOut, layer.AttentionOutput, layer.AttentionOutputBias, static v => v.Output,
            residual: adds ? static v => v.Hidden : null);
        Seen(streams, "attn_out", l, static v => v.Output);
        return adds;
    }

    /// <summary>
    /// The MLP block into each stream's Output, or, when this returns true, added into Hidden by its down projection
    /// (Output is then unspecified).
    /// </summary>
    private bool Mlp(ReadOnlySpan<Stream> streams, int l, LayerWeights layer, Func<ForwardViews, Tensor> x)
    {
        if (layer.Gate is not null)
        {
            Linear(streams, x, layer.Gate, layer.GateBias, static v => v.Mlp);
            Seen(streams, "ffn_gate", l, static v => v.Mlp);
            Linear(streams, x, layer.Up, layer.UpBias, static v => v.MlpUp!);
            Seen(streams, "ffn_up", l, static v => v.MlpUp!);
            foreach (var st in streams)
            {
                Backend.SiluMul(st.Views.Mlp, st.Views.MlpUp!);
                Seen(st, "ffn_act", l, st.Views.Mlp);
            }
        }
        else if (Fuses(streams, layer.Up))
        {
            Linear(streams, x, layer.Up, layer.UpBias, static v => v.Mlp, activation: Spec.Activation);
            Seen(streams, "ffn_act", l, static v => v.Mlp);
        }
        else
        {
            Linear(streams, x, layer.Up, layer.UpBias, static v => v.Mlp);
            Seen(streams, "ffn_up", l, static v => v.Mlp);
            foreach (var st in streams)
            {
                Backend.Activation(Spec.Activation, st.Views.Mlp);
                Seen(st, "ffn_act", l, st.Views.Mlp);
            }
        }
        bool adds = Fuses(streams, layer.Down);
        Linear(streams, static v => v.Mlp, layer.Down, layer.DownBias, static v => v.Output, residual: adds ? static v => v.Hidden : null);
        Seen(streams, "ffn_out", l, static v => v.Output);
        return adds;
    }

    /// <summary>
    /// Whether a product may take its activation or residual add into its own op (<see cref="LinearEpilogue"/>, where a
    /// GPU fuses them): not when an observer is to be shown the product's output, nor when a LoRA bypass adds into that
    /// output after the product. Either way the pass computes the same; unfused, the intermediates exist to be shown.
    /// </summary>
    private bool Fuses(ReadOnlySpan<Stream> streams, Tensor weight)
    {
        foreach (var st in streams)
            if (st.Views.Workspace.Observer is not null) return false;
        return Lora?.Find(HomeOf(weight)) is null;
    }

    /// <summary>
    /// output = x·Wᵀ + bias for every stream. A trainable W is perturbed inside the product, one z for all streams; a
    /// trainable bias is read through the stream's own scratch copy of θ + scale·z.
    /// </summary>
    /// <param name="stored">how the weight is stored: the architecture's layout, or (the LM head) always nn.Linear's</param>
    /// <param name="slice">rows of an nn.Linear weight to multiply by instead of all of it (their z is the weight's at the same elements)</param>
    /// <param name="activation">applied to the output in the same op (<see cref="LinearEpilogue"/>)</param>
    /// <param name="residual">the residual stream the output is added into in the same op, whose output is then not read</param>
    private void Linear(ReadOnlySpan<Stream> streams, Func<ForwardViews, Tensor> input, Tensor weight, Tensor? bias,
        Func<ForwardViews, Tensor> output, WeightLayout stored = WeightLayout.Architecture, WeightSlice? slice = null,
        ActivationKind? activation = null, Func<ForwardViews, Tensor>? residual = null)
    {
        bool t = stored == WeightLayout.Architecture && Spec.TransposedWeights;
        var noise = streams[0].Perturbation?.NoiseOf(HomeOf(weight));
        if (slice is { } part)
        {
            weight = weight.View(new TensorShape(part.Rows, weight.Shape[-1]), part.FirstElement);
            if (noise is { } whole) noise = whole with { FirstIndex = whole.FirstIndex + (ulong)part.FirstElement };
        }
        if (noise is null)
        {
            foreach (var st in streams)
                Backend.Linear(input(st.Views), weight, t, Small(st, bias, st.Views.Workspace.PerturbedBias), output(st.Views),
                    new LinearEpilogue(activation, residual?.Invoke(st.Views)));
        }
        else
            PerturbedLinear(streams, input, weight, t, noise.Value, bias, output, activation, residual);
        if (slice is null && Lora?.Find(HomeOf(weight)) is { } adapted) LoraBypass(streams, input, adapted, output);
    }

    private void PerturbedLinear(ReadOnlySpan<Stream> streams, Func<ForwardViews, Tensor> input, Tensor weight, bool t, TensorNoise noise,
        Tensor? bias, Func<ForwardViews, Tensor> output, ActivationKind? activation, Func<ForwardViews, Tensor>? residual)
    {
        StreamPair<float> scales = default;
        StreamPair<Tensor> inputs = default, outputs = default;
        StreamPair<Tensor?> biases = default;
        StreamPair<LinearEpilogue> epilogues = default;
        for (int i = 0; i < streams.Length; i++)
        {
            var st = streams[i];
            scales[i] = st.Perturbation!.Scale;
            inputs[i] = input(st.Views);
            biases[i] = Small(st, bias, st.Views.Workspace.PerturbedBias);
            outputs[i] = output(st.Views);
            epilogues[i] = new LinearEpilogue(activation, residual?.Invoke(st.Views));
        }
        int count = streams.Length;
        Backend.PerturbedLinear(weight, t, noise, scales[..count], inputs[..count], biases[..count], outputs[..count],
            epilogues[0].IsNone ? default : epilogues[..count]);
    }

    /// <summary>
    /// output += (α/r)·(x·Aᵀ)·Bᵀ for every stream, as PEFT's LoRA layer adds it: the two small products run through
    /// <see cref="Linear"/>, so a trainable A or B is perturbed inside them like any weight.
    /// </summary>
    private void LoraBypass(ReadOnlySpan<Stream> streams, Func<ForwardViews, Tensor> input, LoraModule m, Func<ForwardViews, Tensor> output)
    {
        Tensor Hidden(ForwardViews v) => v.LoraHidden!.View(new TensorShape(input(v).Shape[0], m.A.Shape[0]));
        Tensor Bypass(ForwardViews v) => v.LoraOutput!.View(new TensorShape(input(v).Shape[0], m.OutFeatures));
        Linear(streams, input, m.A, null, Hidden, WeightLayout.Linear);
        Linear(streams, Hidden, m.B, null, Bypass, WeightLayout.Linear);
        foreach (var st in streams) Backend.AddScaled(output(st.Views), Bypass(st.Views), Lora!.Config.Scale);
    }

    private void Embedding(Stream st, Tensor table, Tensor ids, Tensor output, bool accumulate)
    {
        if (st.Perturbation?.NoiseOf(table) is { } noise)
            Backend.PerturbedEmbedding(table, noise, st.Perturbation.Scale, ids, output, accumulate);
        else
            Backend.Embedding(table, ids, output, accumulate);
    }

    private void Norm(Stream st, Tensor x, Tensor weight, Tensor? bias, Tensor output)
    {
        var ws = st.Views.Workspace;
        var w = Small(st, weight, ws.PerturbedWeight)!;
        if (Spec.Norm == NormKind.LayerNorm) Backend.LayerNorm(x, w, Small(st, bias, ws.PerturbedBias), Spec.NormEps, output);
        else Backend.RmsNorm(x, w, Spec.NormEps, output);
    }

    /// <summary>A small parameter as the stream reads it: itself, or θ + scale·z copied into <paramref name="scratch"/>.</summary>
    private Tensor? Small(Stream st, Tensor? parameter, Tensor scratch)
    {
        if (parameter is null || st.Perturbation?.NoiseOf(HomeOf(parameter)) is not { } noise) return parameter;
        var copy = scratch.View(parameter.Shape);
        Backend.PerturbedCopy(parameter, noise, st.Perturbation.Scale, copy);
        return copy;
    }

    /// <summary>The parameter a weight the forward pass reads stands for: a streamed slot's host tensor, which carries its z.</summary>
    private Tensor HomeOf(Tensor weight) => _streamed?.HomeOf(weight) ?? weight;

    /// <summary>A workspace made before an adapter was set (or changed) lacks its slots, or has slots of another size.</summary>
    private void CheckAdapters(ForwardWorkspace ws)
    {
        if (ws.Adapters.PrefixTokens != PrefixTokens)
            throw new ArgumentException(
                $"the workspace was made for {ws.Adapters.PrefixTokens} prefix tokens and the model has {PrefixTokens}; create workspaces after setting Prefix");
        if (Lora is { } lora && (ws.Adapters.LoraRank < lora.Rank || ws.Adapters.LoraOutputWidth < lora.MaxOutput))
            throw new ArgumentException("the workspace was made before the LoRA adapter was attached; create workspaces after setting Lora");
    }

    /// <summary>
    /// Makes the stream's view of the prefix: under a perturbation of prompt_embeddings, θ + scale·z of all of it in the
    /// workspace's scratch, once per forward call, from which each layer slices its keys and values.
    /// </summary>
    private void LoadPrefix(Stream st)
    {
        if (st.Perturbation?.NoiseOf(_prefix!.Embeddings) is { } noise)
            Backend.PerturbedCopy(_prefix.Embeddings, noise, st.Perturbation.Scale, st.Views.Workspace.PerturbedPrefix!);
    }

    /// <summary>The prefix (P, L·2·W) as the stream reads it: θ, or the scratch <see cref="LoadPrefix"/> filled.</summary>
    private Tensor PrefixOf(Stream st) =>
        st.Perturbation?.NoiseOf(_prefix!.Embeddings) is null ? _prefix!.Embeddings : st.Views.Workspace.PerturbedPrefix!;

    /// <summary>
    /// Writes the prefix (θ, or θ + scale·z under <paramref name="perturbation"/>) into slots [0, P) of every sequence of
    /// every layer's cache, before the prefill; calls then run at pastLength P and later.
    /// </summary>
    internal void WritePrefixToCache(ForwardViews v, WeightPerturbation? perturbation)
    {
        if (_prefix is null) return;
        CheckAdapters(v.Workspace);
        var st = new Stream(v, perturbation);
        LoadPrefix(st);
        var prefix = PrefixOf(st);
        int w = Spec.KvWidth, capacity = v.Workspace.CacheCapacity;
        var slots = new TensorShape(_prefix.Tokens, w);
        for (int l = 0; l < Spec.NumLayers; l++)
            for (int b = 0; b < v.Batch; b++)
            {
                Backend.SliceColumns(prefix, _prefix.KeyColumn(l), v.KeyCache![l].View(slots, (long)b * capacity * w));
                Backend.SliceColumns(prefix, _prefix.KeyColumn(l) + w, v.ValueCache![l].View(slots, (long)b * capacity * w));
            }
    }

    private Tensor? _ropeTable;

    /// <summary>The rotary inverse frequencies on the backend, uploaded once.</summary>
    internal Tensor RopeTable()
    {
        if (_ropeTable is null)
        {
            float[] inverse = Spec.RopeInvFrequencies();
            _ropeTable = Backend.Allocate(new TensorShape(inverse.Length), DType.F32, MemoryCategory.Weights, "rope_inv_freq");
            Backend.Upload<float>(_ropeTable, inverse);
        }
        return _ropeTable;
    }

    /// <summary>
    /// Each stream's final hidden states gathered at the rows, the LM head, log-softmax at the targets; the first
    /// stream's results land in <paramref name="first"/>, a second stream's in <paramref name="second"/>. Each stream
    /// has half of the first workspace's logits buffer (a single stream too, so its products have the shapes, and its
    /// results the bits, they have in lockstep). Rows that fit in half the buffer go in one product; more rows go
    /// through the vocabulary in slices, every row against each slice of the head (<see cref="IBackend.LogSoftmaxAccumulate"/>):
    /// a perturbed head then makes each weight's z once, whatever the number of rows.
    /// </summary>
    private void LogProbsAtRows(ReadOnlySpan<Stream> streams, Tensor[] finals, ReadOnlySpan<int> rows, ReadOnlySpan<int> targets,
        Span<float> first, Span<float> second)
    {
        int n = rows.Length, vocab = Spec.VocabSize;
        for (int i = 0; i < streams.Length; i++)
        {
            var ws = streams[i].Views.Workspace;
            PickRows(ws, finals[i], rows);
            Backend.Upload(ws.Targets.View(new TensorShape(n)), targets);
        }
        var logits = streams[0].Views.Workspace.Logits;
        int partRows = Math.Max(1, streams[0].Views.Workspace.LogitRows / 2);
        long partElements = (long)partRows * vocab;
        if (n <= partRows)
        {
            LmHead(streams, 0, n, logits, partRows);
            for (int i = 0; i < streams.Length; i++)
            {
                var ws = streams[i].Views.Workspace;
                var result = ws.RowResults.View(new TensorShape(n));
                Backend.LogSoftmaxGather(LogitsOf(logits, i, partRows, n), ws.Targets.View(new TensorShape(n)), result);
                Backend.Download(result, i == 0 ? first : second);
            }
            return;
        }

        int columns = (int)Math.Max(1, partElements / n);
        var start = new float[3 * n];
        for (int r = 0; r < n; r++) (start[3 * r], start[3 * r + 1], start[3 * r + 2]) = (float.NegativeInfinity, 0f, float.NaN);
        foreach (var st in streams) Backend.Upload<float>(st.Views.Workspace.RowSoftmaxState.View(new TensorShape(n, 3)), start);
        int e = Spec.WordEmbeddingSize;
        var picked = streams[0].Views;
        for (int column = 0; column < vocab; column += columns)
        {
            int width = Math.Min(columns, vocab - column);
            Linear(streams, v => v.Workspace.Picked.View(new TensorShape(n, e)), Weights.LmHead, null,
                v => logits.View(new TensorShape(n, width), (ReferenceEquals(v, picked) ? 0 : 1) * partElements), WeightLayout.Linear,
                new WeightSlice(column * (long)e, width));
            for (int i = 0; i < streams.Length; i++)
            {
                var ws = streams[i].Views.Workspace;
                Backend.LogSoftmaxAccumulate(logits.View(new TensorShape(n, width), i * partElements), ws.Targets.View(new TensorShape(n)), column,
                    ws.RowSoftmaxState.View(new TensorShape(n, 3)));
            }
        }
        var state = new float[3 * n];
        for (int i = 0; i < streams.Length; i++)
        {
            Backend.Download(streams[i].Views.Workspace.RowSoftmaxState.View(new TensorShape(n, 3)), state);
            var logProbs = i == 0 ? first : second;
            for (int r = 0; r < n; r++)
                logProbs[r] = (float)(state[3 * r + 2] - (state[3 * r] + Math.Log(state[3 * r + 1])));
        }
    }

    /// <summary>The logits (rows × V) at the rows of a cached call's final hidden states, as <see cref="ArgmaxAtRows"/> reads them.</summary>
    /// <exception cref="NonFiniteForwardException">a logit is NaN or ±∞.</exception>
    internal void LogitsAtRows(ForwardWorkspace ws, Tensor final, ReadOnlySpan<int> rows, Span<float> logits, WeightPerturbation? perturbation = null)
    {
        CheckLogitsLength(rows, logits);
        LogitsAtRows(new Stream(ws.ViewsFor(1, 1), perturbation), final, rows, logits);
        NonFiniteForwardException.ThrowIfAny(Directory, logits, perturbation is null ? "logits" : "logits under the MeZO perturbation");
    }

    /// <summary>Greedy next tokens at the rows: the LM head in chunks, then argmax.</summary>
    /// <exception cref="NonFiniteForwardException">a row's logits hold NaN or ±∞ (the backend's argmax gives −1).</exception>
    internal void ArgmaxAtRows(ForwardWorkspace ws, Tensor final, ReadOnlySpan<int> rows, Span<int> tokens, WeightPerturbation? perturbation = null)
    {
        // The LM head reads only a stream's workspace; any of its views names it.
        ReadOnlySpan<Stream> one = [new(ws.ViewsFor(1, 1), perturbation)];
        PickRows(ws, final, rows);
        var results = ws.RowIndices.View(new TensorShape(rows.Length));
        for (int start = 0; start < rows.Length; start += ws.LogitRows)
        {
            int count = Math.Min(ws.LogitRows, rows.Length - start);
            LmHead(one, start, count, ws.Logits, ws.LogitRows);
            Backend.Argmax(LogitsOf(ws.Logits, 0, ws.LogitRows, count), results.View(new TensorShape(count), start));
        }
        Backend.Download(results, tokens);
        if (tokens.Contains(-1))
            throw new NonFiniteForwardException(Directory, perturbation is null ? "logits" : "logits under the MeZO perturbation");
    }

    /// <summary>The final hidden states (N, E) at the flat rows, gathered into the workspace: (S, E).</summary>
    private void PickRows(ForwardWorkspace ws, Tensor final, ReadOnlySpan<int> rows)
    {
        var rowView = ws.Rows.View(new TensorShape(rows.Length));
        Backend.Upload(rowView, rows);
        Backend.GatherRows(final, rowView, ws.Picked.View(new TensorShape(rows.Length, Spec.WordEmbeddingSize)));
    }

    /// <summary>
    /// The LM head over each stream's picked rows (<see cref="PickRows"/>) [start, start + count): stream i's logits
    /// (count, V) land in part i of <paramref name="logits"/>, parts of <paramref name="partRows"/> rows each
    /// (count ≤ partRows), valid until the next chunk.
    /// </summary>
    private void LmHead(ReadOnlySpan<Stream> streams, int start, int count, Tensor logits, int partRows)
    {
        int e = Spec.WordEmbeddingSize;
        var a = streams[0].Views;
        Linear(streams, v => v.Workspace.Picked.View(new TensorShape(count, e), (long)start * e),
            Weights.LmHead, null, v => LogitsOf(logits, ReferenceEquals(v, a) ? 0 : 1, partRows, count), WeightLayout.Linear);
    }

    /// <summary>Rows [part·partRows, part·partRows + count) of a logits buffer, as (count, V).</summary>
    private Tensor LogitsOf(Tensor logits, int part, int partRows, int count) =>
        logits.View(new TensorShape(count, Spec.VocabSize), (long)part * partRows * Spec.VocabSize);

    private void CheckToken(int id)
    {
        if ((uint)id >= (uint)Spec.VocabSize)
            throw new InvalidInputException($"token id {id} is outside the vocabulary of {Directory} ({Spec.VocabSize} ids)");
    }

    private void CheckPositions(ReadOnlySpan<int> positions)
    {
        if (Spec.Positions != PositionKind.Learned) return;
        int limit = Spec.MaxPositions + Spec.LearnedPositionOffset;
        foreach (int p in positions)
            if (p >= limit)
                throw new InvalidInputException(
                    $"a sequence of {p - Spec.LearnedPositionOffset + 1} tokens exceeds the {Spec.MaxPositions} positions of {Directory}");
    }

    public void Dispose()
    {
        _ropeTable?.Dispose();
        _streamed?.Dispose();
        Weights.Dispose();
    }

    /// <summary>Rows of a weight: <paramref name="Rows"/> of them from element <paramref name="FirstElement"/>.</summary>
    private readonly record struct WeightSlice(long FirstElement, int Rows);

    /// <summary>A weight stored as the architecture stores its projections (GPT-2: Conv1D, (in, out)), or as nn.Linear (out, in).</summary>
    private enum WeightLayout { Architecture, Linear }

    /// <summary>One value per stream of a lockstep pass, on the stack.</summary>
    [System.Runtime.CompilerServices.InlineArray(2)]
    private struct StreamPair<T>
    {
        private T _first;
    }

    /// <summary>One forward stream: the workspace views it computes in and the perturbation its weights carry (null: θ itself).</summary>
    internal readonly record struct Stream(ForwardViews Views, WeightPerturbation? Perturbation);
}
