using MeZO.Engine.Adapters;
using MeZO.Engine.Backends;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models.Gradients;

/// <summary>
/// First-order gradients of a <see cref="Transformer"/>'s own parameters (issue 12), reusable across calls: the model's
/// forward pass, watched by an <see cref="ActivationTape"/> that keeps what the backward reads, then the backward of every
/// op in reverse order, on a backend that implements <see cref="IBackwardOps"/> (the CPU and the CUDA one). With a LoRA adapter or a
/// prefix attached, the same pass differentiates the adapter's tensors as well (PEFT: the base frozen). The objective is
/// L = Σ_s weight_s·log p(target_s | row_s), so a weight of −1 gives the summed negative log-likelihood; gradients of
/// successive calls add up (micro-batches) until <see cref="ZeroGradients"/>. With recomputation (gradient
/// checkpointing) only each layer's input is kept, and the backward runs each layer's forward again before
/// differentiating it. Shapes: B sequences of T tokens, N = B·T rows, C hidden, E word-embedding width, F intermediate,
/// V vocabulary, S scored pairs. Every buffer is sized once, for the largest batch; the forward pass allocates nothing.
/// </summary>
public sealed class ModelGradient : IDisposable
{
    /// <summary>
    /// The activations' dtype backprop needs (<see cref="Transformer.Compute"/>): its backward ops and the activations
    /// they keep are float32. Whoever loads a model to backprop through asks for it where the user named none, since a
    /// backend's default may be 16-bit (CUDA computes in a 16-bit model's own dtype).
    /// </summary>
    public const DType ActivationDType = DType.F32;

    /// <summary>
    /// Why a model loaded this way cannot be backpropagated through, or null when it can: asked by the constructor, and
    /// by a training run before it makes its run folder.
    /// </summary>
    public static string? Refusal(bool streamsLayers, DType compute) =>
        // Backprop reads each layer's weights again in the backward pass and keeps their gradients beside them: not streamed.
        streamsLayers ? "backprop needs the whole model on the device; --max-device-memory streams it, which only MeZO's forward passes do"
        // The backward ops and their kept activations are float32: a 16-bit forward would round where the backward does not.
        : compute != ActivationDType ? $"backprop computes in float32; {compute.ToString().ToLowerInvariant()} activations (--compute) " +
                                       "are for MeZO's forward passes only"
        : null;

    private readonly Transformer _model;
    private readonly IBackend _backend;
    private readonly IBackwardOps _ops;
    private readonly ArchitectureSpec _spec;
    private readonly ModelWeights _w;
    private readonly LoraAdapter? _lora;
    private readonly PrefixAdapter? _prefix;
    private readonly HashSet<Tensor> _parameters = new(ReferenceEqualityComparer.Instance); // the model's and the adapter's
    private readonly Dictionary<Tensor, Tensor> _gradientOf = new(ReferenceEqualityComparer.Instance);
    private readonly List<NamedTensor> _gradients = [];
    private readonly List<IDisposable> _owned = [];
    private readonly ForwardWorkspace _workspace;
    private readonly ActivationTape _tape;
    private readonly LayerActivations[] _layers;   // one per layer, or one shared when recomputing
    private readonly Tensor[] _residual;           // (N, C) layer l's input; [L] the last layer's output
    private readonly Tensor? _embedded;            // (N, E) OPT-350m: the token rows project_in reads
    private readonly Tensor? _finalNormed;         // (N, C) the final norm's output, which project_out reads
    private readonly Tensor _discard;              // a frozen norm's weight gradient, computed and dropped
    private readonly Scratch _scratch;
    private readonly LoraBypassBackward? _loraBackward;
    private readonly PrefixBackward? _prefixBackward;
    private HeadBuffers? _head;
    private bool _gradientsGiven;

    // The last forward call, which the next Backward differentiates.
    private TokenBatch? _batch;
    private int _pairs;

    /// <param name="model">the model, with the LoRA adapter or prefix it computes with attached (they must stay attached)</param>
    /// <param name="maxBatch">the most sequences a call holds</param>
    /// <param name="maxLength">the longest sequence a call holds</param>
    /// <param name="recomputeLayers">gradient checkpointing: keep only layer inputs, recompute each layer in the backward</param>
    /// <param name="trainable">
    /// the parameters to differentiate, the model's or the attached adapter's; when null, the adapter's if one is
    /// attached (PEFT), else all of the model's. The others are frozen.
    /// </param>
    /// <param name="workspace">
    /// a workspace of the model's, of at least this size, to run the forward pass in (an evaluator's, which a training
    /// run holds anyway), or null for one of its own; a shared one is watched only during this object's calls
    /// </param>
    /// <exception cref="NotSupportedException">the backend has no backward ops.</exception>
    public ModelGradient(Transformer model, int maxBatch, int maxLength, bool recomputeLayers = false,
        IReadOnlyCollection<Tensor>? trainable = null, ForwardWorkspace? workspace = null)
    {
        if (model.Backend is not IBackwardOps ops)
            throw new NotSupportedException($"gradients need a backend with backward ops (the CPU or CUDA one); {model.Backend.GetType().Name} has none yet");
        if (Refusal(model.StreamsLayers, model.Compute) is { } refusal) throw new InvalidInputException(refusal);
        _model = model;
        _backend = model.Backend;
        _ops = ops;
        _spec = model.Spec;
        _w = model.Weights;
        _lora = model.Lora;
        _prefix = model.Prefix;
        RecomputesLayers = recomputeLayers;
        var s = _spec;
        int n = checked(maxBatch * maxLength);
        try
        {
            IReadOnlyList<NamedTensor> adapter = [.. _lora?.Parameters ?? [], .. _prefix?.Parameters ?? []];
            IReadOnlyList<NamedTensor> all = [.. _w.Parameters, .. adapter];
            foreach (var p in all) _parameters.Add(p.Tensor);
            var chosen = new HashSet<Tensor>(trainable ?? (adapter.Count > 0 ? adapter : _w.Parameters).Select(p => p.Tensor),
                ReferenceEqualityComparer.Instance);
            if (chosen.FirstOrDefault(t => !_parameters.Contains(t)) is { } stranger)
                throw new ArgumentException($"'{stranger.Name}' is neither the model's parameter nor its attached adapter's", nameof(trainable));
            foreach (var p in all)
            {
                if (!chosen.Contains(p.Tensor)) continue;
                var g = _backend.Allocate(p.Tensor.Shape, DType.F32, MemoryCategory.Gradients, p.Name + ".grad");
                _gradients.Add(new NamedTensor(p.Name, g));
                _gradientOf[p.Tensor] = g;
            }
            ZeroGradients();
            if (workspace is not null && (workspace.MaxBatch < maxBatch || workspace.MaxLength < maxLength || workspace.CacheCapacity != 0))
                throw new ArgumentException($"the shared workspace ({workspace.MaxBatch} × {workspace.MaxLength}) is smaller than {maxBatch} × {maxLength}, or has a KV cache");
            _workspace = workspace ?? Own(model.CreateWorkspace(maxBatch, maxLength));
            _tape = new ActivationTape(_backend);
            _layers = new LayerActivations[recomputeLayers ? 1 : s.NumLayers];
            for (int l = 0; l < _layers.Length; l++)
                _layers[l] = Own(new LayerActivations(_backend, s, recomputeLayers ? "recomputed" : $"layers.{l}", n));
            _residual = new Tensor[s.NumLayers + 1];
            for (int l = 0; l <= s.NumLayers; l++) _residual[l] = Allocate($"residual.{l}", MemoryCategory.Activations, n, s.HiddenSize);
            _embedded = s.HasEmbeddingProjection ? Allocate("word_embeddings", MemoryCategory.Activations, n, s.WordEmbeddingSize) : null;
            _finalNormed = KeepsFinalNorm(s) ? Allocate("final_norm", MemoryCategory.Activations, n, s.HiddenSize) : null;
            _discard = Allocate("frozen_norm.grad", MemoryCategory.Workspace, s.HiddenSize);
            _scratch = Scratch.Create(this, s, n);
            if (_lora is not null) _loraBackward = Own(new LoraBypassBackward(_backend, ops, _lora, n));
            if (_prefix is not null) _prefixBackward = Own(new PrefixBackward(_backend, ops, _prefix, maxBatch, maxLength));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// Bytes a <see cref="ModelGradient"/> of these sizes holds beside its gradients (which take 4 bytes per trainable
    /// weight) once a call of <paramref name="pairs"/> scored pairs has run: the forward workspace (unless shared), the kept activations
    /// (every layer's, or one layer's when recomputing), the residual stream, the backward's scratch and the LM head's
    /// logits and their gradient, and the buffers of the attached <paramref name="adapters"/>' backward. Computed from the
    /// same sizes the constructor allocates.
    /// </summary>
    public static long EstimateWorkingBytes(ArchitectureSpec s, int maxBatch, int maxLength, bool recomputeLayers, int pairs,
        AdapterSlots adapters = default, bool sharedWorkspace = false)
    {
        long n = (long)maxBatch * maxLength;
        long bytes = sharedWorkspace ? 0 : ForwardWorkspace.EstimateBytes(s, maxBatch, maxLength, adapters: adapters);
        if (adapters.LoraRank > 0) bytes += LoraBypassBackward.BytesFor(n, adapters.LoraRank);
        if (adapters.PrefixTokens > 0) bytes += PrefixBackward.BytesFor(s, adapters.PrefixTokens, maxBatch, maxLength);
        bytes += (recomputeLayers ? 1 : s.NumLayers) * LayerActivations.BytesFor(s, n);
        bytes += 4 * n * ((s.NumLayers + 1L) * s.HiddenSize + (s.HasEmbeddingProjection ? s.WordEmbeddingSize : 0) + (KeepsFinalNorm(s) ? s.HiddenSize : 0));
        bytes += 4L * s.HiddenSize + 4 * n * Scratch.Widths(s).Sum();
        return bytes + HeadBuffers.BytesFor(pairs, s.WordEmbeddingSize, s.VocabSize);
    }

    /// <summary>The final norm's output is kept only where project_out reads it; otherwise its backward reads the norm's input.</summary>
    private static bool KeepsFinalNorm(ArchitectureSpec s) => s.FinalNorm && s.HasEmbeddingProjection;

    /// <summary>Whether layers are recomputed in the backward pass (gradient checkpointing).</summary>
    public bool RecomputesLayers { get; }

    /// <summary>
    /// One float32 gradient per trainable parameter under its name: the model's in <see cref="ModelWeights.Parameters"/>'
    /// order, then the adapter's in its order.
    /// </summary>
    public IReadOnlyList<NamedTensor> Gradients => _gradients;

    /// <summary>The gradient of <paramref name="parameter"/>, or null when it is frozen (or a tied head, whose use is the embedding's).</summary>
    public Tensor? GradientOf(Tensor parameter) => _gradientOf.GetValueOrDefault(parameter);

    /// <summary>
    /// dL/dθ of one batch in a fresh object: L and the pairs' log-probabilities, and the gradient of every parameter
    /// (owned by the result). See <see cref="Forward"/> and <see cref="Backward"/>.
    /// </summary>
    public static ParameterGradients Compute(Transformer model, TokenBatch batch, ReadOnlySpan<int> rows, ReadOnlySpan<int> targets,
        ReadOnlySpan<float> pairWeights)
    {
        if (rows.Length != pairWeights.Length) throw new ArgumentException("rows, targets and pair weights must have the same length");
        using var pass = new ModelGradient(model, batch.BatchSize, batch.Length);
        float[] logProbs = pass.Forward(batch, rows, targets);
        pass.Backward(pairWeights);
        double objective = 0;
        for (int i = 0; i < logProbs.Length; i++) objective += (double)pairWeights[i] * logProbs[i];
        pass._gradientsGiven = true;
        return new ParameterGradients(objective, logProbs, pass._gradients);
    }

    /// <summary>Sets every gradient to zero (before a step's first micro-batch).</summary>
    public void ZeroGradients()
    {
        foreach (var g in _gradients) _ops.Zero(g.Tensor);
    }

    /// <summary>
    /// The model's forward pass over the batch at θ, keeping what the backward reads; returns log p(targets[i] | rows[i])
    /// for each pair, a row being a flat index b·T + t (<see cref="TokenBatch.Row"/>). <see cref="Backward"/> differentiates it.
    /// </summary>
    public float[] Forward(TokenBatch batch, ReadOnlySpan<int> rows, ReadOnlySpan<int> targets)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!ReferenceEquals(_model.Lora, _lora) || !ReferenceEquals(_model.Prefix, _prefix))
            throw new InvalidOperationException("the model's LoRA adapter or prefix changed since this gradient was made; make a new one for the adapters attached now");
        if (rows.Length != targets.Length) throw new ArgumentException("rows and targets must have the same length");
        if (rows.Length == 0) throw new ArgumentException("nothing to score: no (row, target) pairs");
        int n = batch.BatchSize * batch.Length;
        foreach (int r in rows)
            if ((uint)r >= (uint)n) throw new ArgumentException($"row {r} is outside the batch's {n} rows");
        foreach (int t in targets)
            if ((uint)t >= (uint)_spec.VocabSize)
                throw new InvalidInputException($"target {t} is outside the vocabulary of {_model.Directory} ({_spec.VocabSize} ids)");

        _batch = null;
        _tape.Clear();
        KeepResidualStream(n);
        if (!RecomputesLayers)
            for (int l = 0; l < _spec.NumLayers; l++) _layers[l].Rows(n).KeepOn(_tape, _spec, l);
        var head = Head(rows.Length);
        _backend.Upload(head.RowIds, rows);
        _backend.Upload(head.Targets, targets);
        Watched(() => _backend.GatherRows(_model.HiddenStates(_workspace, batch), head.RowIds, head.Picked));
        foreach (var (start, count) in head.Chunks)
            _backend.LogSoftmaxGather(head.LogitsOf(_backend, _w.LmHead, start, count), head.Slice(head.Targets, start, count),
                head.Slice(head.LogProbs, start, count));
        var logProbs = new float[rows.Length];
        _backend.Download<float>(head.LogProbs, logProbs);
        _batch = batch;
        _pairs = rows.Length;
        return logProbs;
    }

    /// <summary>
    /// Adds dL/dθ of the last <see cref="Forward"/> call to the gradients, for L = Σ pairWeights[i]·logProbs[i]
    /// (e.g. −1/count for a mean negative log-likelihood).
    /// </summary>
    public void Backward(ReadOnlySpan<float> pairWeights)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var batch = _batch ?? throw new InvalidOperationException("Backward needs a Forward call first (and differentiates it once)");
        if (pairWeights.Length != _pairs) throw new ArgumentException($"{pairWeights.Length} pair weights for the {_pairs} pairs of the forward call");
        _batch = null;
        var s = _spec;
        var w = _w;
        int n = batch.BatchSize * batch.Length;
        var v = _workspace.ViewsFor(batch.BatchSize, batch.Length);
        var g = _scratch.Rows(n);
        var head = _head!.Value.Rows(_pairs);
        _backend.Upload(head.Weights, pairWeights);

        // The head, a chunk of rows at a time with its logits made again: dL/dlogits = weight·(onehot − softmax), then
        // down to the picked hidden states.
        foreach (var (start, count) in head.Chunks)
        {
            var logits = head.LogitsOf(_backend, w.LmHead, start, count);
            var logitsGrad = head.LogitsGrad.View(logits.Shape);
            _ops.LogSoftmaxGatherBackward(logits, head.Slice(head.Targets, start, count), head.Slice(head.Weights, start, count), logitsGrad);
            _ops.LinearBackward(head.Slice(head.Picked, start, count), w.LmHead, false, logitsGrad, head.Slice(head.PickedGrad, start, count),
                Grad(w.LmHead), null);
        }
        var finalGrad = w.ProjectOut is null ? g.Hidden : g.Embedded!;   // (N, E)
        _ops.Zero(finalGrad);
        _ops.GatherRowsBackward(head.PickedGrad, head.RowIds, finalGrad);
        var grad = g.Residual;                                          // (N, C) dL/d(the current residual)
        var last = Rows(_residual[s.NumLayers], n);
        if (w.ProjectOut is not null)
        {
            var beforeOut = _finalNormed is null ? last : Rows(_finalNormed, n);
            var beforeOutGrad = w.FinalNorm is null ? grad : g.Hidden;
            _ops.LinearBackward(beforeOut, w.ProjectOut, s.TransposedWeights, finalGrad, beforeOutGrad, Grad(w.ProjectOut), null);
            if (w.FinalNorm is not null) NormBackward(last, w.FinalNorm, w.FinalNormBias, beforeOutGrad, grad);
        }
        else if (w.FinalNorm is not null) NormBackward(last, w.FinalNorm, w.FinalNormBias, finalGrad, grad);
        else Copy(finalGrad, grad);

        for (int l = s.NumLayers - 1; l >= 0; l--)
        {
            var a = (RecomputesLayers ? _layers[0] : _layers[l]).Rows(n);
            var input = Rows(_residual[l], n);
            if (RecomputesLayers)
            {
                _tape.Clear();
                a.KeepOn(_tape, s, l);
                Watched(() => _model.RecomputeLayer(_workspace, batch, l, input));
            }
            var lw = w.Layers[l];
            if (s.PreNorm)
            {
                // next = Mid + mlp(norm(Mid)): dMid = dNext + normᵀ(mlpᵀ(dNext)).
                MlpBackward(lw, a, a.Normed2!, grad, g.Normed, g);
                NormBackward(a.Mid, lw.MlpNorm, lw.MlpNormBias, g.Normed, g.Hidden);
                _backend.Add(grad, g.Hidden);
                // Mid = Input + attn(norm(Input)): the same again.
                AttentionBackward(l, lw, a, a.Normed1!, grad, g.Normed, v, g);
                NormBackward(input, lw.AttentionNorm, lw.AttentionNormBias, g.Normed, g.Hidden);
                _backend.Add(grad, g.Hidden);
            }
            else
            {
                // next = norm(Sum2), Sum2 = Mid + mlp(Mid).
                NormBackward(a.Sum2!, lw.MlpNorm, lw.MlpNormBias, grad, g.Hidden);
                Copy(g.Hidden, grad);
                MlpBackward(lw, a, a.Mid, grad, g.Normed, g);
                _backend.Add(grad, g.Normed);
                // Mid = norm(Sum1), Sum1 = Input + attn(Input).
                NormBackward(a.Sum1!, lw.AttentionNorm, lw.AttentionNormBias, grad, g.Hidden);
                Copy(g.Hidden, grad);
                AttentionBackward(l, lw, a, input, grad, g.Normed, v, g);
                _backend.Add(grad, g.Normed);
            }
        }

        // Embeddings: positions and tokens each receive dL/dResidual[0] (through project_in for OPT-350m).
        if (Grad(w.PositionEmbedding) is { } positionGrad) _ops.EmbeddingBackward(grad, v.Positions, positionGrad);
        var tokenGrad = Grad(w.TokenEmbedding);
        if (w.ProjectIn is not null)
        {
            _ops.LinearBackward(Rows(_embedded!, n), w.ProjectIn, s.TransposedWeights, grad, tokenGrad is null ? null : g.Embedded,
                Grad(w.ProjectIn), null);
            if (tokenGrad is not null) _ops.EmbeddingBackward(g.Embedded!, v.Ids, tokenGrad);
        }
        else if (tokenGrad is not null)
            _ops.EmbeddingBackward(grad, v.Ids, tokenGrad);
    }

    /// <summary>Bytes this object holds beside the model: gradients, kept activations, the workspace and scratch.</summary>
    public long Bytes => _gradients.Sum(g => g.Tensor.ByteCount) + _owned.Sum(o => o switch
    {
        Tensor t => t.ByteCount,
        ForwardWorkspace ws => ws.Bytes,
        LayerActivations a => a.Bytes,
        LoraBypassBackward b => b.Bytes,
        PrefixBackward b => b.Bytes,
        _ => 0L,
    }) + (_head?.Bytes ?? 0);

    /// <summary>Runs forward ops with the tape watching the workspace (shared, it may have an observer of its own the rest of the time).</summary>
    private void Watched(Action forward)
    {
        var previous = _workspace.Observer;
        _workspace.Observer = _tape;
        try
        {
            forward();
        }
        finally
        {
            _workspace.Observer = previous;
        }
    }

    /// <summary>The residual stream's kept copies: each layer's input and the last layer's output, plus the head's inputs.</summary>
    private void KeepResidualStream(int n)
    {
        var s = _spec;
        _tape.Keep("embed", -1, Rows(_residual[0], n));
        for (int l = 0; l < s.NumLayers; l++) _tape.Keep(s.PreNorm ? "ffn_residual" : "ffn_norm", l, Rows(_residual[l + 1], n));
        if (_embedded is not null) _tape.Keep("token_embed", -1, Rows(_embedded, n));
        if (_finalNormed is not null) _tape.Keep("final_norm", -1, Rows(_finalNormed, n));
    }

    /// <summary>dL/dx (=, into <paramref name="inputGrad"/>) of the attention block given dL/d(its output); weight gradients +=.</summary>
    private void AttentionBackward(int l, LayerWeights lw, LayerActivations a, Tensor x, Tensor outputGrad, Tensor inputGrad, ForwardViews v,
        Scratch g)
    {
        var s = _spec;
        ProjectionBackward(a.Context, lw.AttentionOutput, lw.AttentionOutputBias, outputGrad, g.Context, g.Query, accumulate: false);
        Tensor keys = KvHeads(a.Key, v), values = KvHeads(a.Value, v), keyGrad = KvHeads(g.Key, v), valueGrad = KvHeads(g.Value, v);
        int past = 0;
        if (_prefixBackward is { } prefix)
        {
            (keys, values) = prefix.Slots(v, l, keys, values);
            (keyGrad, valueGrad) = prefix.Gradients(v);
            past = prefix.Tokens;
        }
        // Attention adds into the key and value gradients (a cache slot sums its queries): start them at zero.
        _ops.Zero(keyGrad);
        _ops.Zero(valueGrad);
        _ops.AttentionBackward(QueryHeads(a.Query, v), keys, values, v.KeyMask, past, s.AttentionScale(l), s.AttentionWindow(l),
            QueryHeads(a.Context, v), QueryHeads(g.Context, v), QueryHeads(g.Query, v), keyGrad, valueGrad);
        if (_prefixBackward is not null) _prefixBackward.Split(v, l, g.Key, g.Value, Grad(_prefix!.Embeddings));
        if (s.Positions == PositionKind.Rotary)
        {
            var inverse = _model.RopeTable();
            _ops.RopeBackward(QueryHeads(g.Query, v), v.Positions, inverse);
            _ops.RopeBackward(KvHeads(g.Key, v), v.Positions, inverse);
        }
        if (lw.FusedQkv is not null)
        {
            _ops.SliceColumnsBackward(g.Query, 0, g.FusedQkv!);
            _ops.SliceColumnsBackward(g.Key, s.HiddenSize, g.FusedQkv!);
            _ops.SliceColumnsBackward(g.Value, 2 * s.HiddenSize, g.FusedQkv!);
            ProjectionBackward(x, lw.FusedQkv, lw.FusedQkvBias, g.FusedQkv!, inputGrad, g.Hidden, accumulate: false);
            return;
        }
        // x feeds three projections: its gradient is the sum of their three input gradients.
        ProjectionBackward(x, lw.Query!, lw.QueryBias, g.Query, inputGrad, g.Hidden, accumulate: false);
        ProjectionBackward(x, lw.Key!, lw.KeyBias, g.Key, inputGrad, g.Hidden, accumulate: true);
        ProjectionBackward(x, lw.Value!, lw.ValueBias, g.Value, inputGrad, g.Hidden, accumulate: true);
    }

    /// <summary>dL/dx (=, into <paramref name="inputGrad"/>) of the MLP given dL/d(its output); weight gradients +=.</summary>
    private void MlpBackward(LayerWeights lw, LayerActivations a, Tensor x, Tensor outputGrad, Tensor inputGrad, Scratch g)
    {
        // g.Gate is free until SiluMulBackward writes it: the down projection's bypass passes its input gradient through it.
        ProjectionBackward(a.Activated, lw.Down, lw.DownBias, outputGrad, g.Intermediate, g.Gate, accumulate: false);
        if (lw.Gate is not null)
        {
            _ops.SiluMulBackward(a.PreActivation, a.Up!, g.Intermediate, g.Gate, g.Up!);
            ProjectionBackward(x, lw.Gate, lw.GateBias, g.Gate, inputGrad, g.Hidden, accumulate: false);
            ProjectionBackward(x, lw.Up, lw.UpBias, g.Up!, inputGrad, g.Hidden, accumulate: true);
            return;
        }
        _ops.ActivationBackward(_spec.Activation, a.PreActivation, g.Intermediate);
        ProjectionBackward(x, lw.Up, lw.UpBias, g.Intermediate, inputGrad, g.Hidden, accumulate: false);
    }

    /// <summary>
    /// The backward of a layer projection y = x·Wᵀ + bias, plus LoRA's bypass where W is adapted: weight gradients +=,
    /// and dL/dx written into <paramref name="inputGrad"/> (=), or added to it when <paramref name="accumulate"/> (x
    /// feeds several projections). <paramref name="spare"/> (x's shape) carries each added part; its values are lost.
    /// </summary>
    private void ProjectionBackward(Tensor x, Tensor weight, Tensor? bias, Tensor outputGrad, Tensor inputGrad, Tensor spare, bool accumulate)
    {
        _ops.LinearBackward(x, weight, _spec.TransposedWeights, outputGrad, accumulate ? spare : inputGrad, Grad(weight), Grad(bias));
        if (accumulate) _backend.Add(inputGrad, spare);
        if (_lora?.Find(weight) is { } m) _loraBackward!.Run(m, x, outputGrad, inputGrad, spare, Grad(m.A), Grad(m.B));
    }

    private void NormBackward(Tensor x, Tensor weight, Tensor? bias, Tensor outputGrad, Tensor inputGrad)
    {
        var weightGrad = Grad(weight) ?? _discard.View(weight.Shape);
        if (_spec.Norm == NormKind.LayerNorm) _ops.LayerNormBackward(x, weight, _spec.NormEps, outputGrad, inputGrad, weightGrad, Grad(bias));
        else _ops.RmsNormBackward(x, weight, _spec.NormEps, outputGrad, inputGrad, weightGrad);
    }

    /// <summary>
    /// The gradient tensor of a parameter (the token embedding's for a tied LM head, so its two uses sum), or null for
    /// none or a frozen one.
    /// </summary>
    private Tensor? Grad(Tensor? parameter) =>
        parameter is null ? null
        : _gradientOf.TryGetValue(parameter, out var g) ? g
        : _parameters.Contains(parameter) ? null
        : throw new InvalidOperationException($"'{parameter.Name}' is used by the forward pass but is neither the model's parameter nor its adapter's");

    private Tensor QueryHeads(Tensor rows, ForwardViews v) => rows.View(new TensorShape(v.Batch, v.Length, _spec.NumHeads, _spec.HeadDim));
    private Tensor KvHeads(Tensor rows, ForwardViews v) => rows.View(new TensorShape(v.Batch, v.Length, _spec.NumKvHeads, _spec.HeadDim));

    private static Tensor Rows(Tensor t, int rows) => t.View(new TensorShape(rows, t.Shape[1]));

    /// <summary>A row-major copy: all of x's columns sliced from column 0.</summary>
    private void Copy(Tensor x, Tensor output) => _backend.SliceColumns(x, 0, output);

    /// <summary>The head's buffers for <paramref name="pairs"/> pairs, grown (never shrunk) to the largest call seen.</summary>
    private HeadBuffers Head(int pairs)
    {
        if (_head is not { } head || head.Capacity < pairs)
        {
            _head?.Dispose();
            _head = null;
            _head = HeadBuffers.Create(_backend, pairs, _spec.WordEmbeddingSize, _spec.VocabSize);
        }
        return _head.Value.Rows(pairs);
    }

    private Tensor Allocate(string name, MemoryCategory category, params int[] shape) =>
        Own(_backend.Allocate(new TensorShape(shape), DType.F32, category, name));

    private T Own<T>(T disposable) where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    private bool _disposed;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var d in _owned) d.Dispose();
        _owned.Clear();
        _head?.Dispose();
        if (!_gradientsGiven)
            foreach (var g in _gradients) g.Tensor.Dispose();
    }

    /// <summary>
    /// The LM head's buffers for S pairs: the picked rows (S, E) and their gradient, the pairs' rows, targets, weights and
    /// log-probabilities (S), and the logits (R, V) of one chunk of R rows with their gradient. Only a chunk's logits
    /// are ever alive: the forward pass keeps the log-probabilities, and the backward makes each chunk's logits again
    /// (one more head product) rather than keep S × V of them, which at 16 × 128 tokens of a 50K vocabulary would be
    /// 0.8 GiB with their gradient. A view of fewer pairs shares the memory and does not own it.
    /// </summary>
    private readonly record struct HeadBuffers(int Capacity, Tensor RowIds, Tensor Targets, Tensor Weights, Tensor Picked, Tensor LogProbs,
        Tensor PickedGrad, Tensor Logits, Tensor LogitsGrad)
    {
        /// <summary>Rows per chunk: 64 MiB of float32 logits, at least one row.</summary>
        private static int ChunkRows(int vocab) => Math.Max(1, (64 << 20) / (4 * vocab));

        public static HeadBuffers Create(IBackend backend, int pairs, int e, int vocab)
        {
            Tensor A(string name, DType type, MemoryCategory category, params int[] shape) =>
                backend.Allocate(new TensorShape(shape), type, category, name);
            int rows = Math.Min(pairs, ChunkRows(vocab));
            return new HeadBuffers(pairs,
                A("rows", DType.I32, MemoryCategory.Workspace, pairs),
                A("targets", DType.I32, MemoryCategory.Workspace, pairs),
                A("pair_weights", DType.F32, MemoryCategory.Workspace, pairs),
                A("picked", DType.F32, MemoryCategory.Activations, pairs, e),
                A("log_probs", DType.F32, MemoryCategory.Activations, pairs),
                A("picked.grad", DType.F32, MemoryCategory.Workspace, pairs, e),
                A("logits", DType.F32, MemoryCategory.Workspace, rows, vocab),
                A("logits.grad", DType.F32, MemoryCategory.Workspace, rows, vocab));
        }

        public long Bytes => BytesFor(Capacity, Picked.Shape[1], Logits.Shape[1]);

        /// <summary>The allocations of <see cref="Create"/>: four 4-byte values and two E-wide rows per pair, two V-wide rows per chunk row.</summary>
        public static long BytesFor(long pairs, int e, int vocab) => pairs * 4 * (4 + 2L * e) + Math.Min(pairs, ChunkRows(vocab)) * 8L * vocab;

        /// <summary>The (first pair, count) of each chunk of the <see cref="Capacity"/> pairs this view covers.</summary>
        public IEnumerable<(int Start, int Count)> Chunks
        {
            get
            {
                int rows = Logits.Shape[0];
                for (int start = 0; start < Capacity; start += rows) yield return (start, Math.Min(rows, Capacity - start));
            }
        }

        /// <summary>Pairs [start, start + count) of a per-pair buffer.</summary>
        public Tensor Slice(Tensor t, int start, int count) =>
            t.Shape.Rank == 1 ? t.View(new TensorShape(count), start) : t.View(new TensorShape(count, t.Shape[1]), (long)start * t.Shape[1]);

        /// <summary>The logits (count, V) of pairs [start, start + count), computed into the chunk buffer.</summary>
        public Tensor LogitsOf(IBackend backend, Tensor head, int start, int count)
        {
            var logits = Logits.View(new TensorShape(count, Logits.Shape[1]));
            backend.Linear(Slice(Picked, start, count), head, false, null, logits);
            return logits;
        }

        public HeadBuffers Rows(int pairs)
        {
            Tensor V(Tensor t) => t.Shape.Rank == 1 ? t.View(new TensorShape(pairs)) : t.View(new TensorShape(pairs, t.Shape[1]));
            return new HeadBuffers(pairs, V(RowIds), V(Targets), V(Weights), V(Picked), V(LogProbs), V(PickedGrad), Logits, LogitsGrad);
        }

        public void Dispose()
        {
            foreach (var t in (ReadOnlySpan<Tensor>)[RowIds, Targets, Weights, Picked, LogProbs, PickedGrad, Logits, LogitsGrad]) t.Dispose();
        }
    }

    /// <summary>The backward pass's gradient buffers of one block, reused by every layer; allocated for the largest call.</summary>
    private sealed class Scratch
    {
        public required Tensor Residual { get; init; }      // (N, C) dL/d(the residual stream)
        public required Tensor Hidden { get; init; }        // (N, C)
        public required Tensor Normed { get; init; }        // (N, C)
        public required Tensor Query { get; init; }         // (N, H·D)
        public required Tensor Key { get; init; }           // (N, KVH·D)
        public required Tensor Value { get; init; }         // (N, KVH·D)
        public required Tensor Context { get; init; }       // (N, H·D)
        public Tensor? FusedQkv { get; init; }              // (N, 3C) GPT-2
        public required Tensor Intermediate { get; init; }  // (N, F) dL/d(down's input)
        public required Tensor Gate { get; init; }          // (N, F)
        public Tensor? Up { get; init; }                    // (N, F) gated only
        public Tensor? Embedded { get; init; }              // (N, E) OPT-350m: dL/d(the word embeddings, or project_out's output)

        public static Scratch Create(ModelGradient m, ArchitectureSpec s, int n)
        {
            var widths = Names.Zip(Widths(s)).ToDictionary(p => p.First, p => p.Second);
            Tensor? G(string name) => widths[name] > 0 ? m.Allocate(name + ".grad", MemoryCategory.Workspace, n, widths[name]) : null;
            return new Scratch
            {
                Residual = G("residual")!,
                Hidden = G("hidden")!,
                Normed = G("normed")!,
                Query = G("q")!,
                Key = G("k")!,
                Value = G("v")!,
                Context = G("context")!,
                FusedQkv = G("qkv"),
                Intermediate = G("mlp")!,
                Gate = G("gate")!,
                Up = G("up"),
                Embedded = G("word_embeddings"),
            };
        }

        private static readonly string[] Names = ["residual", "hidden", "normed", "q", "k", "v", "context", "qkv", "mlp", "gate", "up", "word_embeddings"];

        /// <summary>The width of each buffer, in <see cref="Names"/>' order; 0 for one this architecture does not need.</summary>
        public static int[] Widths(ArchitectureSpec s) =>
        [
            s.HiddenSize, s.HiddenSize, s.HiddenSize, s.QueryWidth, s.KvWidth, s.KvWidth, s.QueryWidth,
            s.FusedQkv ? s.FusedQkvWidth : 0, s.IntermediateSize, s.IntermediateSize, s.Mlp == MlpKind.Gated ? s.IntermediateSize : 0,
            s.HasEmbeddingProjection ? s.WordEmbeddingSize : 0,
        ];

        public Scratch Rows(int n)
        {
            Tensor? V(Tensor? t) => t?.View(new TensorShape(n, t.Shape[1]));
            return new Scratch
            {
                Residual = V(Residual)!, Hidden = V(Hidden)!, Normed = V(Normed)!, Query = V(Query)!, Key = V(Key)!, Value = V(Value)!,
                Context = V(Context)!, FusedQkv = V(FusedQkv), Intermediate = V(Intermediate)!, Gate = V(Gate)!, Up = V(Up), Embedded = V(Embedded),
            };
        }
    }
}
