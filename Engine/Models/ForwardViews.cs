using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>The workspace's buffers viewed at the shapes of one (B, T) call; N = B·T.</summary>
internal sealed class ForwardViews
{
    public ForwardViews(ForwardWorkspace ws, int batch, int length)
    {
        var s = ws.Spec;
        int n = batch * length;
        Workspace = ws;
        Batch = batch;
        Length = length;
        Hidden = ws.Hidden.View(new TensorShape(n, s.HiddenSize));
        Normed = ws.Normed.View(new TensorShape(n, s.HiddenSize));
        Output = ws.Output.View(new TensorShape(n, s.HiddenSize));
        Query = ws.Query.View(new TensorShape(n, s.QueryWidth));
        QueryHeads = ws.Query.View(new TensorShape(batch, length, s.NumHeads, s.HeadDim));
        Key = ws.Key.View(new TensorShape(n, s.KvWidth));
        KeyHeads = ws.Key.View(new TensorShape(batch, length, s.NumKvHeads, s.HeadDim));
        Value = ws.Value.View(new TensorShape(n, s.KvWidth));
        ValueHeads = ws.Value.View(new TensorShape(batch, length, s.NumKvHeads, s.HeadDim));
        AttentionOut = ws.AttentionOut.View(new TensorShape(n, s.QueryWidth));
        AttentionHeads = ws.AttentionOut.View(new TensorShape(batch, length, s.NumHeads, s.HeadDim));
        FusedQkv = ws.FusedQkv?.View(new TensorShape(n, 3 * s.HiddenSize));
        Mlp = ws.Mlp.View(new TensorShape(n, s.IntermediateSize));
        MlpUp = ws.MlpUp?.View(new TensorShape(n, s.IntermediateSize));
        Embedded = ws.Embedded?.View(new TensorShape(n, s.WordEmbeddingSize));
        Ids = ws.Ids.View(new TensorShape(n));
        Positions = ws.Positions.View(new TensorShape(batch, length));
        int keys = ws.CacheCapacity > 0 ? ws.CacheCapacity : length;
        KeyMask = ws.KeyMask.View(new TensorShape(batch, keys));
        if (ws.KeyCache is not null)
        {
            KeyCache = ws.KeyCache.Select(t => t.View(new TensorShape(batch, ws.CacheCapacity, s.NumKvHeads, s.HeadDim))).ToArray();
            ValueCache = ws.ValueCache!.Select(t => t.View(new TensorShape(batch, ws.CacheCapacity, s.NumKvHeads, s.HeadDim))).ToArray();
        }
    }

    public ForwardWorkspace Workspace { get; }
    public int Batch { get; }
    public int Length { get; }
    public Tensor Hidden { get; }
    public Tensor Normed { get; }
    public Tensor Output { get; }
    public Tensor Query { get; }
    public Tensor QueryHeads { get; }
    public Tensor Key { get; }
    public Tensor KeyHeads { get; }
    public Tensor Value { get; }
    public Tensor ValueHeads { get; }
    public Tensor AttentionOut { get; }
    public Tensor AttentionHeads { get; }
    public Tensor? FusedQkv { get; }
    public Tensor Mlp { get; }
    public Tensor? MlpUp { get; }
    public Tensor? Embedded { get; }
    public Tensor Ids { get; }
    public Tensor Positions { get; }
    public Tensor KeyMask { get; }
    public Tensor[]? KeyCache { get; }
    public Tensor[]? ValueCache { get; }
}
