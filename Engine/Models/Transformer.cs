using MeZO.Engine.Backends;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>
/// The decoder-only transformer of every supported family; the differences between families are data in
/// <see cref="ArchitectureSpec"/>. The forward pass is straight-line code over backend ops, one layer's activations
/// alive at a time, and the LM head runs only at the rows that need logits.
/// </summary>
public sealed class Transformer : IDisposable
{
    private Transformer(string directory, ModelWeights weights)
    {
        Directory = directory;
        Weights = weights;
    }

    public string Directory { get; }
    public ModelWeights Weights { get; }
    public ArchitectureSpec Spec => Weights.Spec;
    public IBackend Backend => Weights.Backend;

    /// <summary>Loads config.json and the safetensors weights of a Hugging Face model folder onto a backend.</summary>
    public static Transformer Load(string modelDirectory, IBackend backend, DType? storage = null)
    {
        var spec = ModelConfigReader.Read(modelDirectory);
        using var reader = CheckpointReader.Open(modelDirectory);
        return new Transformer(Path.GetFullPath(modelDirectory), ModelWeights.Load(reader, spec, backend, storage));
    }

    /// <summary>Scratch for up to <paramref name="maxBatch"/> sequences of <paramref name="maxLength"/> new tokens per call.</summary>
    public ForwardWorkspace CreateWorkspace(int maxBatch, int maxLength, int cacheCapacity = 0) =>
        new(Spec, Backend, maxBatch, maxLength, cacheCapacity);

    /// <summary>
    /// Runs the batch and returns log p(targets[i] | tokens up to rows[i]) for each (row, target) pair, where a row is a
    /// flat index b·T + t into the batch (see <see cref="TokenBatch.Row"/>).
    /// </summary>
    public void ScoreTokens(ForwardWorkspace ws, TokenBatch batch, ReadOnlySpan<int> rows, ReadOnlySpan<int> targets, Span<float> logProbs)
    {
        CheckScoring(rows, targets, logProbs);
        LogProbsAtRows(ws, Forward(ws, batch), rows, targets, logProbs);
    }

    /// <summary>Runs the batch and returns the logits (rows × V) at the given flat rows.</summary>
    public void LogitsAt(ForwardWorkspace ws, TokenBatch batch, ReadOnlySpan<int> rows, Span<float> logits)
    {
        CheckLogitsLength(rows, logits);
        LogitsAtRows(ws, Forward(ws, batch), rows, logits);
    }

    /// <summary>
    /// <see cref="ScoreTokens"/> and <see cref="LogitsAt"/> from one forward pass: the log-probabilities of the targets
    /// at <paramref name="rows"/>, and the logits (logitRows × V) at <paramref name="logitRows"/>.
    /// </summary>
    public void ScoreTokensAndLogits(ForwardWorkspace ws, TokenBatch batch, ReadOnlySpan<int> rows, ReadOnlySpan<int> targets,
        Span<float> logProbs, ReadOnlySpan<int> logitRows, Span<float> logits)
    {
        CheckScoring(rows, targets, logProbs);
        CheckLogitsLength(logitRows, logits);
        var final = Forward(ws, batch);
        LogProbsAtRows(ws, final, rows, targets, logProbs);
        LogitsAtRows(ws, final, logitRows, logits);
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

    private void LogitsAtRows(ForwardWorkspace ws, Tensor final, ReadOnlySpan<int> rows, Span<float> logits)
    {
        var picked = PickRows(ws, final, rows);
        for (int start = 0; start < rows.Length; start += ws.LogitRows)
        {
            int count = Math.Min(ws.LogitRows, rows.Length - start);
            Backend.Download(LmHead(ws, picked, start, count), logits.Slice(start * Spec.VocabSize, count * Spec.VocabSize));
        }
    }

    /// <summary>The forward pass of a whole batch without a cache; returns the final hidden states (N, E).</summary>
    internal Tensor Forward(ForwardWorkspace ws, TokenBatch batch)
    {
        var v = ws.ViewsFor(batch.BatchSize, batch.Length);
        Backend.Upload(v.KeyMask, batch.Mask);
        return Run(v, batch.Ids, Spec.PositionsOf(batch), pastLength: 0);
    }

    /// <summary>
    /// One forward call over <paramref name="ids"/> (B, T) at <paramref name="positions"/>; the key mask must already be
    /// uploaded. With a cache, keys and values are appended at <paramref name="pastLength"/> and attention reads the
    /// cache. Returns the final hidden states (N, E).
    /// </summary>
    internal Tensor Run(ForwardViews v, ReadOnlySpan<int> ids, ReadOnlySpan<int> positions, int pastLength)
    {
        var s = Spec;
        var w = Weights;
        foreach (int id in ids) CheckToken(id);
        CheckPositions(positions);
        Backend.Upload(v.Ids, ids);
        Backend.Upload(v.Positions, positions);

        // Embeddings: tokens (projected up for OPT-350m), plus learned positions.
        if (w.ProjectIn is not null)
        {
            Backend.Embedding(w.TokenEmbedding, v.Ids, v.Embedded!, accumulate: false);
            Backend.Linear(v.Embedded!, w.ProjectIn, s.TransposedWeights, null, v.Hidden);
        }
        else
        {
            Backend.Embedding(w.TokenEmbedding, v.Ids, v.Hidden, accumulate: false);
        }
        if (w.PositionEmbedding is not null)
            Backend.Embedding(w.PositionEmbedding, v.Positions, v.Hidden, accumulate: true);

        for (int l = 0; l < s.NumLayers; l++)
        {
            var layer = w.Layers[l];
            if (s.PreNorm)
            {
                Norm(v.Hidden, layer.AttentionNorm, layer.AttentionNormBias, v.Normed);
                Attention(v, l, layer, v.Normed, pastLength);
                Backend.Add(v.Hidden, v.Output);
                Norm(v.Hidden, layer.MlpNorm, layer.MlpNormBias, v.Normed);
                Mlp(v, layer, v.Normed);
                Backend.Add(v.Hidden, v.Output);
            }
            else
            {
                // OPT-350m: the norm follows each residual add.
                Attention(v, l, layer, v.Hidden, pastLength);
                Backend.Add(v.Hidden, v.Output);
                Norm(v.Hidden, layer.AttentionNorm, layer.AttentionNormBias, v.Hidden);
                Mlp(v, layer, v.Hidden);
                Backend.Add(v.Hidden, v.Output);
                Norm(v.Hidden, layer.MlpNorm, layer.MlpNormBias, v.Hidden);
            }
        }

        var final = v.Hidden;
        if (w.FinalNorm is not null)
        {
            Norm(v.Hidden, w.FinalNorm, w.FinalNormBias, v.Normed);
            final = v.Normed;
        }
        if (w.ProjectOut is not null)
        {
            Backend.Linear(final, w.ProjectOut, s.TransposedWeights, null, v.Embedded!);
            final = v.Embedded!;
        }
        return final;
    }

    private void Attention(ForwardViews v, int l, LayerWeights layer, Tensor x, int pastLength)
    {
        var s = Spec;
        bool t = s.TransposedWeights;
        if (layer.FusedQkv is not null)
        {
            Backend.Linear(x, layer.FusedQkv, t, layer.FusedQkvBias, v.FusedQkv!);
            Backend.SliceColumns(v.FusedQkv!, 0, v.Query);
            Backend.SliceColumns(v.FusedQkv!, s.HiddenSize, v.Key);
            Backend.SliceColumns(v.FusedQkv!, 2 * s.HiddenSize, v.Value);
        }
        else
        {
            Backend.Linear(x, layer.Query!, t, layer.QueryBias, v.Query);
            Backend.Linear(x, layer.Key!, t, layer.KeyBias, v.Key);
            Backend.Linear(x, layer.Value!, t, layer.ValueBias, v.Value);
        }
        if (s.Positions == PositionKind.Rotary)
        {
            var inv = RopeTable();
            Backend.Rope(v.QueryHeads, v.Positions, inv);
            Backend.Rope(v.KeyHeads, v.Positions, inv);
        }
        Tensor keys = v.KeyHeads, values = v.ValueHeads;
        if (v.KeyCache is not null)
        {
            Backend.KvAppend(v.KeyHeads, v.ValueHeads, v.KeyCache[l], v.ValueCache![l], pastLength);
            keys = v.KeyCache[l];
            values = v.ValueCache[l];
        }
        Backend.Attention(v.QueryHeads, keys, values, v.KeyMask, pastLength, s.AttentionScale(l), s.AttentionWindow(l),
            v.AttentionHeads);
        Backend.Linear(v.AttentionOut, layer.AttentionOutput, t, layer.AttentionOutputBias, v.Output);
    }

    private void Mlp(ForwardViews v, LayerWeights layer, Tensor x)
    {
        bool t = Spec.TransposedWeights;
        if (layer.Gate is not null)
        {
            Backend.Linear(x, layer.Gate, t, layer.GateBias, v.Mlp);
            Backend.Linear(x, layer.Up, t, layer.UpBias, v.MlpUp!);
            Backend.SiluMul(v.Mlp, v.MlpUp!);
        }
        else
        {
            Backend.Linear(x, layer.Up, t, layer.UpBias, v.Mlp);
            Backend.Activation(Spec.Activation, v.Mlp);
        }
        Backend.Linear(v.Mlp, layer.Down, t, layer.DownBias, v.Output);
    }

    private void Norm(Tensor x, Tensor weight, Tensor? bias, Tensor output)
    {
        if (Spec.Norm == NormKind.LayerNorm) Backend.LayerNorm(x, weight, bias, Spec.NormEps, output);
        else Backend.RmsNorm(x, weight, Spec.NormEps, output);
    }

    private Tensor? _ropeTable;

    /// <summary>The rotary inverse frequencies on the backend, uploaded once.</summary>
    private Tensor RopeTable()
    {
        if (_ropeTable is null)
        {
            _ropeTable = Backend.Allocate(new TensorShape(Spec.RopeInvFrequencies.Length), DType.F32, MemoryCategory.Weights, "rope_inv_freq");
            Backend.Upload<float>(_ropeTable, Spec.RopeInvFrequencies);
        }
        return _ropeTable;
    }

    /// <summary>Gathers the final hidden states at the rows, applies the LM head in bounded chunks, and takes log-softmax at the targets.</summary>
    internal void LogProbsAtRows(ForwardWorkspace ws, Tensor final, ReadOnlySpan<int> rows, ReadOnlySpan<int> targets, Span<float> logProbs)
    {
        var picked = PickRows(ws, final, rows);
        var targetView = ws.Targets.View(new TensorShape(rows.Length));
        Backend.Upload(targetView, targets);
        var results = ws.RowResults.View(new TensorShape(rows.Length));
        for (int start = 0; start < rows.Length; start += ws.LogitRows)
        {
            int count = Math.Min(ws.LogitRows, rows.Length - start);
            Backend.LogSoftmaxGather(LmHead(ws, picked, start, count), targetView.View(new TensorShape(count), start),
                results.View(new TensorShape(count), start));
        }
        Backend.Download(results, logProbs);
    }

    /// <summary>Greedy next tokens at the rows: the LM head in chunks, then argmax.</summary>
    internal void ArgmaxAtRows(ForwardWorkspace ws, Tensor final, ReadOnlySpan<int> rows, Span<int> tokens)
    {
        var picked = PickRows(ws, final, rows);
        var results = ws.RowIndices.View(new TensorShape(rows.Length));
        for (int start = 0; start < rows.Length; start += ws.LogitRows)
        {
            int count = Math.Min(ws.LogitRows, rows.Length - start);
            Backend.Argmax(LmHead(ws, picked, start, count), results.View(new TensorShape(count), start));
        }
        Backend.Download(results, tokens);
    }

    /// <summary>The final hidden states (N, E) at the flat rows, gathered into the workspace: (S, E).</summary>
    private Tensor PickRows(ForwardWorkspace ws, Tensor final, ReadOnlySpan<int> rows)
    {
        var rowView = ws.Rows.View(new TensorShape(rows.Length));
        Backend.Upload(rowView, rows);
        var picked = ws.Picked.View(new TensorShape(rows.Length, Spec.WordEmbeddingSize));
        Backend.GatherRows(final, rowView, picked);
        return picked;
    }

    /// <summary>
    /// The LM head over picked rows [start, start + count), count ≤ ws.LogitRows: logits (count, V) in the workspace's
    /// one bounded logits buffer, valid until the next chunk.
    /// </summary>
    private Tensor LmHead(ForwardWorkspace ws, Tensor picked, int start, int count)
    {
        int e = Spec.WordEmbeddingSize;
        var logits = ws.Logits.View(new TensorShape(count, Spec.VocabSize));
        Backend.Linear(picked.View(new TensorShape(count, e), (long)start * e), Weights.LmHead, false, null, logits);
        return logits;
    }

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
        Weights.Dispose();
    }
}
