using MeZO.Engine.Adapters;
using MeZO.Engine.Backends;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models.Gradients;

/// <summary>
/// Attention's backward under a prefix: each layer attends P + T key slots per sequence, the prefix's keys (after RoPE,
/// as stored) and values, then the call's own. The backward rebuilds those slots as the forward read them, takes the
/// gradient of all P + T, hands the call's own T on (to RoPE's backward and the projections) and adds the prefix's P,
/// summed over the batch, to layer l's columns of prompt_embeddings' gradient; the prefix part needs no RoPE backward.
/// </summary>
internal sealed class PrefixBackward : IDisposable
{
    private readonly IBackend _backend;
    private readonly IBackwardOps _ops;
    private readonly PrefixAdapter _prefix;
    private readonly Tensor _keyGrad;    // (B, P + T, KVH, D) as (B·(P + T), W) rows
    private readonly Tensor _valueGrad;  // (B, P + T, KVH, D)
    private readonly Tensor _sum;        // (P, W) one layer's keys' (or values') gradient columns, summed over the batch

    public PrefixBackward(IBackend backend, IBackwardOps ops, PrefixAdapter prefix, int maxBatch, int maxLength)
    {
        _backend = backend;
        _ops = ops;
        _prefix = prefix;
        int w = prefix.KvWidth, slots = checked(maxBatch * (prefix.Tokens + maxLength));
        var made = new List<Tensor>();
        try
        {
            Tensor A(string name, int rows) => Track(made, backend.Allocate(new TensorShape(rows, w), DType.F32, MemoryCategory.Workspace, name));
            _keyGrad = A("prefix_keys.grad", slots);
            _valueGrad = A("prefix_values.grad", slots);
            _sum = A("prefix_layer.grad", prefix.Tokens);
        }
        catch
        {
            foreach (var t in made) t.Dispose();
            throw;
        }
    }

    private static Tensor Track(List<Tensor> made, Tensor t)
    {
        made.Add(t);
        return t;
    }

    /// <summary>Bytes of the constructor's allocations: two gradients of B·(P + T) slots and one of P, each W wide.</summary>
    public static long BytesFor(ArchitectureSpec s, int prefixTokens, int maxBatch, int maxLength) =>
        4L * s.KvWidth * (2L * maxBatch * (prefixTokens + maxLength) + prefixTokens);

    public long Bytes => _keyGrad.ByteCount + _valueGrad.ByteCount + _sum.ByteCount;

    public int Tokens => _prefix.Tokens;

    /// <summary>
    /// Layer <paramref name="l"/>'s P + T keys and values (B, P + T, KVH, D) as its attention read them, rebuilt in the
    /// workspace's prefix buffers from the prefix and the call's own (B, T, KVH, D) keys (after RoPE) and values.
    /// </summary>
    public (Tensor Keys, Tensor Values) Slots(ForwardViews v, int l, Tensor keys, Tensor values)
    {
        int w = _prefix.KvWidth;
        for (int b = 0; b < v.Batch; b++)
        {
            _backend.SliceColumns(_prefix.Embeddings, _prefix.KeyColumn(l), v.PrefixKeyRows![b]);
            _backend.SliceColumns(_prefix.Embeddings, _prefix.KeyColumn(l) + w, v.PrefixValueRows![b]);
        }
        _backend.KvAppend(keys, values, v.PrefixKeys!, v.PrefixValues!, _prefix.Tokens);
        return (v.PrefixKeys!, v.PrefixValues!);
    }

    /// <summary>The gradients of the P + T slots of a (B, T) call, (B, P + T, KVH, D) each; attention adds into them.</summary>
    public (Tensor Keys, Tensor Values) Gradients(ForwardViews v)
    {
        var shape = v.PrefixKeys!.Shape;
        return (_keyGrad.View(shape), _valueGrad.View(shape));
    }

    /// <summary>
    /// Splits the slots' gradients of layer <paramref name="l"/>: the call's own into <paramref name="keyGrad"/> and
    /// <paramref name="valueGrad"/> (N, W) (=), the prefix's summed over the batch into
    /// <paramref name="embeddingsGrad"/>'s columns of the layer (+=; null: the prefix is frozen).
    /// </summary>
    public void Split(ForwardViews v, int l, Tensor keyGrad, Tensor valueGrad, Tensor? embeddingsGrad)
    {
        Split(v, _keyGrad, keyGrad, embeddingsGrad, _prefix.KeyColumn(l));
        Split(v, _valueGrad, valueGrad, embeddingsGrad, _prefix.KeyColumn(l) + _prefix.KvWidth);
    }

    private void Split(ForwardViews v, Tensor slots, Tensor own, Tensor? embeddingsGrad, int column)
    {
        int p = _prefix.Tokens, t = v.Length, w = _prefix.KvWidth;
        var ownRows = new TensorShape(t, w);
        for (int b = 0; b < v.Batch; b++)
            _backend.SliceColumns(slots.View(ownRows, ((long)b * (p + t) + p) * w), 0, own.View(ownRows, (long)b * t * w));
        if (embeddingsGrad is null) return;
        // SliceColumnsBackward writes its columns (=): start from their current values so the gradient accumulates.
        _backend.SliceColumns(embeddingsGrad, column, _sum);
        for (int b = 0; b < v.Batch; b++) _backend.Add(_sum, slots.View(_sum.Shape, (long)b * (p + t) * w));
        _ops.SliceColumnsBackward(_sum, column, embeddingsGrad);
    }

    public void Dispose()
    {
        _keyGrad.Dispose();
        _valueGrad.Dispose();
        _sum.Dispose();
    }
}
