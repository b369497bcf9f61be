using MeZO.Engine.Backends;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Adapters;

/// <summary>
/// Prefix tuning as Hugging Face PEFT's PREFIX_TUNING (prefix_projection false) and the MeZO paper use it: each layer
/// gets trainable keys and values for P virtual positions, which the model reads exactly as a KV cache of length P
/// filled before the real tokens (every real token attends all P slots; real tokens sit at positions P, P + 1, …).
/// Attach it with <see cref="Transformer.Prefix"/>; the adapter owns its tensor, the model does not.
/// </summary>
public sealed class PrefixAdapter : IAdapter
{
    /// <summary>PEFT's name for the tensor, in its adapter_model.safetensors.</summary>
    public const string ParameterName = "prompt_embeddings";

    private PrefixAdapter(int tokens, int layers, int kvHeads, int kvWidth, Tensor embeddings)
    {
        KvHeads = kvHeads;
        Tokens = tokens;
        Layers = layers;
        KvWidth = kvWidth;
        Embeddings = embeddings;
        Parameters = [new NamedTensor(ParameterName, embeddings)];
    }

    public AdapterKind Kind => AdapterKind.Prefix;

    public long Bytes => Embeddings.ByteCount;

    /// <summary>P, the number of virtual tokens.</summary>
    public int Tokens { get; }

    /// <summary>L, the layers of the model it was made for.</summary>
    public int Layers { get; }

    /// <summary>KVH, the key/value heads W is made of.</summary>
    public int KvHeads { get; }

    /// <summary>W = KVH·D, one position's keys (or values) in one layer.</summary>
    public int KvWidth { get; }

    /// <summary>
    /// (P, L·2·W) F32, PEFT's layout: get_prompt views a row as (L·2, KVH, D) — newer PEFT sets num_attention_heads to
    /// num_key_value_heads for prefix tuning, so W = KVH·D under GQA — and splits the L·2 axis in pairs, so layer l's
    /// keys are columns [2l·W, (2l + 1)·W) and its values columns [(2l + 1)·W, (2l + 2)·W), head-major inside (column
    /// h·D + d), as transformers' KV cache stores them: keys after RoPE, never rotated again.
    /// </summary>
    public Tensor Embeddings { get; }

    /// <summary>The trainable tensors, for <see cref="Mezo.TrainableSet.Of"/>.</summary>
    public IReadOnlyList<NamedTensor> Parameters { get; }

    /// <summary>Elements of <see cref="Embeddings"/>: P·L·2·W.</summary>
    public long ElementCount => Embeddings.ElementCount;

    /// <summary>First column of layer <paramref name="layer"/>'s keys in <see cref="Embeddings"/>; its values follow at + W.</summary>
    public int KeyColumn(int layer) => 2 * layer * KvWidth;

    /// <summary>A prefix of <paramref name="tokens"/> zero positions for a model of <paramref name="spec"/> on <paramref name="backend"/>.</summary>
    public static PrefixAdapter Create(ArchitectureSpec spec, IBackend backend, int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        int layers = spec.NumLayers, width = spec.KvWidth;
        var shape = new TensorShape(tokens, checked(layers * 2 * width));
        var embeddings = backend.Allocate(shape, DType.F32, MemoryCategory.Adapter, ParameterName);
        var adapter = new PrefixAdapter(tokens, layers, spec.NumKvHeads, width, embeddings);
        try
        {
            adapter.Upload(new float[shape.ElementCount]);
        }
        catch
        {
            adapter.Dispose();
            throw;
        }
        return adapter;
    }

    /// <summary>
    /// The MeZO paper's initialisation: the keys and values that <paramref name="tokenIds"/> leave in the KV cache when
    /// the model (without a prefix) runs over them as one sequence at positions 0..P−1. Scoring S with this prefix is
    /// then scoring tokenIds ++ S without one, at S's rows.
    /// </summary>
    public static PrefixAdapter FromActivations(Transformer model, ReadOnlySpan<int> tokenIds)
    {
        if (model.Prefix is not null)
            throw new ArgumentException("the model already has a prefix attached; detach it (Prefix = null) to take activations of the model alone");
        int p = tokenIds.Length;
        if (p == 0) throw new ArgumentException("a prefix needs at least one token", nameof(tokenIds));
        var spec = model.Spec;
        if (p > spec.MaxPositions)
            throw new InvalidInputException($"a prefix of {p} tokens exceeds the {spec.MaxPositions} positions of {model.Directory}");

        var adapter = Create(spec, model.Backend, p);
        try
        {
            var batch = TokenBatch.Pack([tokenIds.ToArray()], PaddingSide.Left);
            using var ws = model.CreateWorkspace(1, p, cacheCapacity: p);
            var views = ws.ViewsFor(1, p);
            model.Backend.Upload<int>(views.KeyMask, batch.Mask);
            model.Run(views, batch.Ids, spec.PositionsOf(batch), pastLength: 0);

            int w = adapter.KvWidth, columns = adapter.Embeddings.Shape[1];
            var host = new float[adapter.ElementCount];
            var layer = new float[p * w];
            for (int l = 0; l < adapter.Layers; l++)
            {
                // The cache (1, P, KVH, D) is (P, W) row-major: row t goes to columns [start, start + W) of row t.
                HostValues.Read(views.KeyCache![l], layer);
                Scatter(layer, host, p, w, columns, adapter.KeyColumn(l));
                HostValues.Read(views.ValueCache![l], layer);
                Scatter(layer, host, p, w, columns, adapter.KeyColumn(l) + w);
            }
            adapter.Upload(host);
        }
        catch
        {
            adapter.Dispose();
            throw;
        }
        return adapter;
    }

    private static void Scatter(ReadOnlySpan<float> rows, Span<float> host, int p, int width, int columns, int start)
    {
        for (int t = 0; t < p; t++) rows.Slice(t * width, width).CopyTo(host.Slice(t * columns + start, width));
    }

    /// <summary>Sets every value from the host, P·L·2·W of them in <see cref="Embeddings"/>' layout (e.g. read from PEFT's file).</summary>
    public void Upload(ReadOnlySpan<float> values)
    {
        if (values.Length != ElementCount)
            throw new ArgumentException($"'{ParameterName}' holds {ElementCount} values (P {Tokens} × L {Layers} × 2 × W {KvWidth}), not {values.Length}");
        Embeddings.Backend.Upload(Embeddings, values);
    }

    public void Save(string directory, string baseModel, IEnumerable<string> extraFiles) =>
        AdapterFolder.SavePrefix(directory, this, baseModel, extraFiles);

    public void Dispose() => Embeddings.Dispose();
}
