using MeZO.Engine.Backends;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models.Gradients;

/// <summary>
/// First-order gradients of a <see cref="Transformer"/>'s own parameters (issue 12): a forward pass that keeps every
/// layer's activations (<see cref="LayerActivations"/>), then the backward of every op in reverse order, on a backend
/// that implements <see cref="IBackwardOps"/> (the CPU and the CUDA one). The objective is
/// L = Σ_s weight_s·log p(target_s | row_s), so a weight of −1 gives the summed negative log-likelihood. Shapes: B
/// sequences of T tokens, N = B·T rows, C hidden, E word-embedding width, F intermediate, V vocabulary, S scored pairs.
/// </summary>
public sealed class ModelGradient : IDisposable
{
    private readonly Transformer _model;
    private readonly IBackend _backend;
    private readonly IBackwardOps _ops;
    private readonly ArchitectureSpec _spec;
    private readonly ModelWeights _w;
    private readonly Dictionary<Tensor, Tensor> _gradientOf = new(ReferenceEqualityComparer.Instance);
    private readonly int _batch, _length, _rows;

    private ModelGradient(Transformer model, IBackwardOps ops, int batch, int length)
    {
        _model = model;
        _backend = model.Backend;
        _ops = ops;
        _spec = model.Spec;
        _w = model.Weights;
        _batch = batch;
        _length = length;
        _rows = batch * length;
    }

    /// <summary>
    /// L and dL/dθ for the batch, scored at the flat rows (b·T + t, see <see cref="TokenBatch.Row"/>) against the
    /// targets, each pair weighted by <paramref name="pairWeights"/>.
    /// </summary>
    /// <exception cref="NotSupportedException">the backend has no backward ops, or an adapter (LoRA, prefix) is attached.</exception>
    public static ParameterGradients Compute(Transformer model, TokenBatch batch, ReadOnlySpan<int> rows, ReadOnlySpan<int> targets,
        ReadOnlySpan<float> pairWeights)
    {
        if (model.Backend is not IBackwardOps ops)
            throw new NotSupportedException($"gradients need a backend with backward ops (the CPU or CUDA one); {model.Backend.GetType().Name} has none yet");
        if (model.Lora is not null || model.Prefix is not null)
            throw new NotSupportedException(
                "gradients are computed for the model's own parameters only; detach the LoRA or prefix adapter first (adapter gradients are not implemented yet)");
        if (rows.Length != targets.Length || rows.Length != pairWeights.Length)
            throw new ArgumentException("rows, targets and pair weights must have the same length");
        if (rows.Length == 0) throw new ArgumentException("nothing to score: no (row, target) pairs");
        using var run = new ModelGradient(model, ops, batch.BatchSize, batch.Length);
        return run.Run(batch, rows, targets, pairWeights);
    }

    private ParameterGradients Run(TokenBatch batch, ReadOnlySpan<int> rows, ReadOnlySpan<int> targets, ReadOnlySpan<float> pairWeights)
    {
        var s = _spec;
        foreach (int id in batch.Ids) CheckToken(id, "token id");
        foreach (int t in targets) CheckToken(t, "target");
        foreach (int r in rows)
            if ((uint)r >= (uint)_rows) throw new ArgumentException($"row {r} is outside the batch's {_rows} rows");
        int[] positions = s.PositionsOf(batch);
        if (s.Positions == PositionKind.Learned)
            foreach (int p in positions)
                if (p >= s.PositionRows)
                    throw new InvalidInputException($"a sequence of {batch.Length} tokens exceeds the {s.MaxPositions} positions of {_model.Directory}");

        var gradients = new List<NamedTensor>();
        try
        {
            foreach (var p in _w.Parameters)
            {
                var g = _backend.Allocate(p.Tensor.Shape, DType.F32, MemoryCategory.Gradients, p.Name + ".grad");
                gradients.Add(new NamedTensor(p.Name, g));
                _gradientOf[p.Tensor] = g;
            }
            float[] logProbs = ForwardAndBackward(batch, positions, rows, targets, pairWeights);
            double objective = 0;
            for (int i = 0; i < logProbs.Length; i++) objective += (double)pairWeights[i] * logProbs[i];
            return new ParameterGradients(objective, logProbs, gradients);
        }
        catch
        {
            foreach (var g in gradients) g.Tensor.Dispose();
            throw;
        }
    }

    private float[] ForwardAndBackward(TokenBatch batch, int[] positions, ReadOnlySpan<int> pairRows, ReadOnlySpan<int> targets,
        ReadOnlySpan<float> pairWeights)
    {
        var s = _spec;
        var w = _w;
        int n = _rows, c = s.HiddenSize, e = s.WordEmbeddingSize, v = s.VocabSize, pairs = pairRows.Length;
        var ids = Upload("ids", batch.Ids, n);
        var positionIds = Upload("positions", positions, n);
        var keyMask = Upload("key_mask", batch.Mask, _batch, _length);
        var rowIds = Upload("rows", pairRows.ToArray(), pairs);
        var targetIds = Upload("targets", targets.ToArray(), pairs);
        var weights = Allocate("pair_weights", MemoryCategory.Workspace, pairs);
        _backend.Upload(weights, pairWeights);
        Tensor? rope = null;
        if (s.Positions == PositionKind.Rotary)
        {
            float[] inverse = s.RopeInvFrequencies();
            rope = Allocate("rope_inv_freq", MemoryCategory.Workspace, inverse.Length);
            _backend.Upload<float>(rope, inverse);
        }

        // Residual[l] is layer l's input; Residual[L] the last layer's output.
        var residual = new Tensor[s.NumLayers + 1];
        for (int l = 0; l <= s.NumLayers; l++) residual[l] = Allocate($"residual.{l}", MemoryCategory.Activations, n, c);
        var layers = new LayerActivations[s.NumLayers];
        var embedded = w.ProjectIn is null ? null : Allocate("word_embeddings", MemoryCategory.Activations, n, e);  // (N, E)
        var block = Allocate("block_output", MemoryCategory.Workspace, n, c);                                         // (N, C)

        // Forward: embeddings (OPT-350m projects them up), learned positions added.
        _backend.Embedding(w.TokenEmbedding, ids, embedded ?? residual[0], accumulate: false);
        if (w.ProjectIn is not null) _backend.Linear(embedded!, w.ProjectIn, s.TransposedWeights, null, residual[0]);
        if (w.PositionEmbedding is not null) _backend.Embedding(w.PositionEmbedding, positionIds, residual[0], accumulate: true);
        for (int l = 0; l < s.NumLayers; l++)
        {
            var a = layers[l] = Track(new LayerActivations(_backend, s, l, n));
            var lw = w.Layers[l];
            var input = residual[l];
            if (s.PreNorm)
            {
                Norm(input, lw.AttentionNorm, lw.AttentionNormBias, a.Normed1!);
                AttentionForward(l, lw, a, a.Normed1!, positionIds, keyMask, rope, block);
                Sum(input, block, a.Mid);
                Norm(a.Mid, lw.MlpNorm, lw.MlpNormBias, a.Normed2!);
                MlpForward(lw, a, a.Normed2!, block);
                Sum(a.Mid, block, residual[l + 1]);
            }
            else
            {
                AttentionForward(l, lw, a, input, positionIds, keyMask, rope, block);
                Sum(input, block, a.Sum1!);
                Norm(a.Sum1!, lw.AttentionNorm, lw.AttentionNormBias, a.Mid);
                MlpForward(lw, a, a.Mid, block);
                Sum(a.Mid, block, a.Sum2!);
                Norm(a.Sum2!, lw.MlpNorm, lw.MlpNormBias, residual[l + 1]);
            }
        }
        var last = residual[s.NumLayers];
        var normed = w.FinalNorm is null ? null : Allocate("final_norm", MemoryCategory.Activations, n, c);
        if (normed is not null) Norm(last, w.FinalNorm!, w.FinalNormBias, normed);
        var beforeOut = normed ?? last;
        var projected = w.ProjectOut is null ? null : Allocate("project_out", MemoryCategory.Activations, n, e);
        if (projected is not null) _backend.Linear(beforeOut, w.ProjectOut!, s.TransposedWeights, null, projected);
        var final = projected ?? beforeOut;                                                // (N, E)
        var picked = Allocate("picked", MemoryCategory.Activations, pairs, e);             // (S, E)
        var logits = Allocate("logits", MemoryCategory.Activations, pairs, v);             // (S, V)
        var logProbs = Allocate("log_probs", MemoryCategory.Activations, pairs);           // (S)
        _backend.GatherRows(final, rowIds, picked);
        _backend.Linear(picked, w.LmHead, false, null, logits);
        _backend.LogSoftmaxGather(logits, targetIds, logProbs);
        var result = new float[pairs];
        _backend.Download<float>(logProbs, result);

        // Backward: the head, dL/dlogits = weight·(onehot − softmax), then down to the final hidden states.
        var logitsGrad = Allocate("logits.grad", MemoryCategory.Workspace, pairs, v);
        var pickedGrad = Allocate("picked.grad", MemoryCategory.Workspace, pairs, e);
        _ops.LogSoftmaxGatherBackward(logits, targetIds, weights, logitsGrad);
        _ops.LinearBackward(picked, w.LmHead, false, logitsGrad, pickedGrad, Grad(w.LmHead), null);
        var finalGrad = Allocate("final.grad", MemoryCategory.Workspace, n, e);   // zero: GatherRowsBackward adds
        _ops.GatherRowsBackward(pickedGrad, rowIds, finalGrad);
        var grad = Allocate("residual.grad", MemoryCategory.Workspace, n, c);     // (N, C) dL/d(the current residual)
        var scratch = Scratch.Create(this, s, n);
        var beforeOutGrad = projected is null ? finalGrad : normed is null ? grad : scratch.Hidden;
        if (projected is not null) _ops.LinearBackward(beforeOut, w.ProjectOut!, s.TransposedWeights, finalGrad, beforeOutGrad, Grad(w.ProjectOut), null);
        if (normed is not null) NormBackward(last, w.FinalNorm!, w.FinalNormBias, beforeOutGrad, grad);
        else if (!ReferenceEquals(beforeOutGrad, grad)) Copy(beforeOutGrad, grad);

        for (int l = s.NumLayers - 1; l >= 0; l--)
        {
            var a = layers[l];
            var lw = w.Layers[l];
            if (s.PreNorm)
            {
                // next = Mid + mlp(norm(Mid)): dMid = dNext + normᵀ(mlpᵀ(dNext)).
                MlpBackward(lw, a, a.Normed2!, grad, scratch.Normed, scratch);
                NormBackward(a.Mid, lw.MlpNorm, lw.MlpNormBias, scratch.Normed, scratch.Hidden);
                _backend.Add(grad, scratch.Hidden);
                // Mid = Input + attn(norm(Input)): the same again.
                AttentionBackward(l, lw, a, a.Normed1!, grad, scratch.Normed, positionIds, keyMask, rope, scratch);
                NormBackward(residual[l], lw.AttentionNorm, lw.AttentionNormBias, scratch.Normed, scratch.Hidden);
                _backend.Add(grad, scratch.Hidden);
            }
            else
            {
                // next = norm(Sum2), Sum2 = Mid + mlp(Mid).
                NormBackward(a.Sum2!, lw.MlpNorm, lw.MlpNormBias, grad, scratch.Hidden);
                Copy(scratch.Hidden, grad);
                MlpBackward(lw, a, a.Mid, grad, scratch.Normed, scratch);
                _backend.Add(grad, scratch.Normed);
                // Mid = norm(Sum1), Sum1 = Input + attn(Input).
                NormBackward(a.Sum1!, lw.AttentionNorm, lw.AttentionNormBias, grad, scratch.Hidden);
                Copy(scratch.Hidden, grad);
                AttentionBackward(l, lw, a, residual[l], grad, scratch.Normed, positionIds, keyMask, rope, scratch);
                _backend.Add(grad, scratch.Normed);
            }
        }

        // Embeddings: positions and tokens each receive dL/dResidual[0] (through project_in for OPT-350m).
        if (w.PositionEmbedding is not null) _ops.EmbeddingBackward(grad, positionIds, Grad(w.PositionEmbedding)!);
        if (w.ProjectIn is not null)
        {
            var embeddedGrad = Allocate("word_embeddings.grad", MemoryCategory.Workspace, n, e);
            _ops.LinearBackward(embedded!, w.ProjectIn, s.TransposedWeights, grad, embeddedGrad, Grad(w.ProjectIn), null);
            _ops.EmbeddingBackward(embeddedGrad, ids, Grad(w.TokenEmbedding)!);
        }
        else
            _ops.EmbeddingBackward(grad, ids, Grad(w.TokenEmbedding)!);
        return result;
    }

    /// <summary>Writes the block's attention output (N, C) into <paramref name="output"/> and keeps q, k, v and the context.</summary>
    private void AttentionForward(int l, LayerWeights lw, LayerActivations a, Tensor x, Tensor positions, Tensor keyMask, Tensor? rope,
        Tensor output)
    {
        var s = _spec;
        bool t = s.TransposedWeights;
        if (lw.FusedQkv is not null)
        {
            using var qkv = _backend.Allocate(new TensorShape(_rows, s.FusedQkvWidth), DType.F32, MemoryCategory.Workspace, "qkv");
            _backend.Linear(x, lw.FusedQkv, t, lw.FusedQkvBias, qkv);
            _backend.SliceColumns(qkv, 0, a.Query);
            _backend.SliceColumns(qkv, s.HiddenSize, a.Key);
            _backend.SliceColumns(qkv, 2 * s.HiddenSize, a.Value);
        }
        else
        {
            _backend.Linear(x, lw.Query!, t, lw.QueryBias, a.Query);
            _backend.Linear(x, lw.Key!, t, lw.KeyBias, a.Key);
            _backend.Linear(x, lw.Value!, t, lw.ValueBias, a.Value);
        }
        if (rope is not null)
        {
            _backend.Rope(QueryHeads(a.Query), positions, rope);
            _backend.Rope(KvHeads(a.Key), positions, rope);
        }
        _backend.Attention(QueryHeads(a.Query), KvHeads(a.Key), KvHeads(a.Value), keyMask, 0, s.AttentionScale(l), s.AttentionWindow(l),
            QueryHeads(a.Context));
        _backend.Linear(a.Context, lw.AttentionOutput, t, lw.AttentionOutputBias, output);
    }

    /// <summary>dL/dx (=, into <paramref name="inputGrad"/>) of the attention block given dL/d(its output); weight gradients +=.</summary>
    private void AttentionBackward(int l, LayerWeights lw, LayerActivations a, Tensor x, Tensor outputGrad, Tensor inputGrad, Tensor positions,
        Tensor keyMask, Tensor? rope, Scratch g)
    {
        var s = _spec;
        bool t = s.TransposedWeights;
        _ops.LinearBackward(a.Context, lw.AttentionOutput, t, outputGrad, g.Context, Grad(lw.AttentionOutput), Grad(lw.AttentionOutputBias));
        // Attention adds into the key and value gradients (a cache slot sums its queries): start them at zero.
        Zero(g.Key);
        Zero(g.Value);
        _ops.AttentionBackward(QueryHeads(a.Query), KvHeads(a.Key), KvHeads(a.Value), keyMask, 0, s.AttentionScale(l), s.AttentionWindow(l),
            QueryHeads(a.Context), QueryHeads(g.Context), QueryHeads(g.Query), KvHeads(g.Key), KvHeads(g.Value));
        if (rope is not null)
        {
            _ops.RopeBackward(QueryHeads(g.Query), positions, rope);
            _ops.RopeBackward(KvHeads(g.Key), positions, rope);
        }
        if (lw.FusedQkv is not null)
        {
            _ops.SliceColumnsBackward(g.Query, 0, g.FusedQkv!);
            _ops.SliceColumnsBackward(g.Key, s.HiddenSize, g.FusedQkv!);
            _ops.SliceColumnsBackward(g.Value, 2 * s.HiddenSize, g.FusedQkv!);
            _ops.LinearBackward(x, lw.FusedQkv, t, g.FusedQkv!, inputGrad, Grad(lw.FusedQkv), Grad(lw.FusedQkvBias));
            return;
        }
        // x feeds three projections: its gradient is the sum of their three input gradients.
        _ops.LinearBackward(x, lw.Query!, t, g.Query, inputGrad, Grad(lw.Query), Grad(lw.QueryBias));
        _ops.LinearBackward(x, lw.Key!, t, g.Key, g.Hidden, Grad(lw.Key), Grad(lw.KeyBias));
        _backend.Add(inputGrad, g.Hidden);
        _ops.LinearBackward(x, lw.Value!, t, g.Value, g.Hidden, Grad(lw.Value), Grad(lw.ValueBias));
        _backend.Add(inputGrad, g.Hidden);
    }

    /// <summary>Writes the block's MLP output (N, C) into <paramref name="output"/> and keeps its intermediate activations.</summary>
    private void MlpForward(LayerWeights lw, LayerActivations a, Tensor x, Tensor output)
    {
        bool t = _spec.TransposedWeights;
        if (lw.Gate is not null)
        {
            _backend.Linear(x, lw.Gate, t, lw.GateBias, a.PreActivation);
            _backend.Linear(x, lw.Up, t, lw.UpBias, a.Up!);
            Copy(a.PreActivation, a.Activated);
            _backend.SiluMul(a.Activated, a.Up!);
        }
        else
        {
            _backend.Linear(x, lw.Up, t, lw.UpBias, a.PreActivation);
            Copy(a.PreActivation, a.Activated);
            _backend.Activation(_spec.Activation, a.Activated);
        }
        _backend.Linear(a.Activated, lw.Down, t, lw.DownBias, output);
    }

    /// <summary>dL/dx (=, into <paramref name="inputGrad"/>) of the MLP given dL/d(its output); weight gradients +=.</summary>
    private void MlpBackward(LayerWeights lw, LayerActivations a, Tensor x, Tensor outputGrad, Tensor inputGrad, Scratch g)
    {
        bool t = _spec.TransposedWeights;
        _ops.LinearBackward(a.Activated, lw.Down, t, outputGrad, g.Intermediate, Grad(lw.Down), Grad(lw.DownBias));
        if (lw.Gate is not null)
        {
            _ops.SiluMulBackward(a.PreActivation, a.Up!, g.Intermediate, g.Gate, g.Up!);
            _ops.LinearBackward(x, lw.Gate, t, g.Gate, inputGrad, Grad(lw.Gate), Grad(lw.GateBias));
            _ops.LinearBackward(x, lw.Up, t, g.Up!, g.Hidden, Grad(lw.Up), Grad(lw.UpBias));
            _backend.Add(inputGrad, g.Hidden);
            return;
        }
        _ops.ActivationBackward(_spec.Activation, a.PreActivation, g.Intermediate);
        _ops.LinearBackward(x, lw.Up, t, g.Intermediate, inputGrad, Grad(lw.Up), Grad(lw.UpBias));
    }

    private void Norm(Tensor x, Tensor weight, Tensor? bias, Tensor output)
    {
        if (_spec.Norm == NormKind.LayerNorm) _backend.LayerNorm(x, weight, bias, _spec.NormEps, output);
        else _backend.RmsNorm(x, weight, _spec.NormEps, output);
    }

    private void NormBackward(Tensor x, Tensor weight, Tensor? bias, Tensor outputGrad, Tensor inputGrad)
    {
        if (_spec.Norm == NormKind.LayerNorm) _ops.LayerNormBackward(x, weight, _spec.NormEps, outputGrad, inputGrad, Grad(weight)!, Grad(bias));
        else _ops.RmsNormBackward(x, weight, _spec.NormEps, outputGrad, inputGrad, Grad(weight)!);
    }

    /// <summary>The gradient tensor of a parameter (the token embedding's for a tied LM head, so its two uses sum), or null for none.</summary>
    private Tensor? Grad(Tensor? parameter) =>
        parameter is null ? null
        : _gradientOf.TryGetValue(parameter, out var g) ? g
        : throw new InvalidOperationException($"'{parameter.Name}' is used by the forward pass but is not among the model's parameters");

    private Tensor QueryHeads(Tensor rows) => rows.View(new TensorShape(_batch, _length, _spec.NumHeads, _spec.HeadDim));
    private Tensor KvHeads(Tensor rows) => rows.View(new TensorShape(_batch, _length, _spec.NumKvHeads, _spec.HeadDim));

    /// <summary>output = x + y (the residual adds keep both operands for the backward pass).</summary>
    private void Sum(Tensor x, Tensor y, Tensor output)
    {
        Copy(x, output);
        _backend.Add(output, y);
    }

    /// <summary>A row-major copy: all of x's columns sliced from column 0.</summary>
    private void Copy(Tensor x, Tensor output) => _backend.SliceColumns(x, 0, output);

    private void Zero(Tensor t) => _backend.Upload<float>(t, new float[t.ElementCount]);

    private Tensor Allocate(string name, MemoryCategory category, params int[] shape) =>
        Track(_backend.Allocate(new TensorShape(shape), DType.F32, category, name));

    private Tensor Upload(string name, int[] values, params int[] shape)
    {
        var t = Track(_backend.Allocate(new TensorShape(shape), DType.I32, MemoryCategory.Workspace, name));
        _backend.Upload<int>(t, values);
        return t;
    }

    private T Track<T>(T disposable) where T : IDisposable
    {
        _disposables.Add(disposable);
        return disposable;
    }

    private readonly List<IDisposable> _disposables = [];

    private void CheckToken(int id, string what)
    {
        if ((uint)id >= (uint)_spec.VocabSize)
            throw new InvalidInputException($"{what} {id} is outside the vocabulary of {_model.Directory} ({_spec.VocabSize} ids)");
    }

    public void Dispose()
    {
        foreach (var d in _disposables) d.Dispose();
        _disposables.Clear();
    }

    /// <summary>The backward pass's gradient buffers of one block, reused by every layer.</summary>
    private sealed class Scratch
    {
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

        public static Scratch Create(ModelGradient m, ArchitectureSpec s, int n)
        {
            Tensor G(string name, int width) => m.Allocate(name + ".grad", MemoryCategory.Workspace, n, width);
            return new Scratch
            {
                Hidden = G("hidden", s.HiddenSize),
                Normed = G("normed", s.HiddenSize),
                Query = G("q", s.QueryWidth),
                Key = G("k", s.KvWidth),
                Value = G("v", s.KvWidth),
                Context = G("context", s.QueryWidth),
                FusedQkv = s.FusedQkv ? G("qkv", s.FusedQkvWidth) : null,
                Intermediate = G("mlp", s.IntermediateSize),
                Gate = G("gate", s.IntermediateSize),
                Up = s.Mlp == MlpKind.Gated ? G("up", s.IntermediateSize) : null,
            };
        }
    }
}
