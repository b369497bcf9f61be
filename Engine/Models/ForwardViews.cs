using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>The workspace's buffers viewed at the shapes of one (B, T) call; N = B·T.</summary>
internal sealed class ForwardViews
{
    public ForwardViews(ForwardWorkspace ws, int batch, int length)
    {
        var s = ws.Spec;
        Workspace = ws;
        Batch = batch;
        Length = length;
        Tensor Slot(string name) => ws.SlotFor(name, batch, length)!;
        Tensor? Optional(string name) => ws.SlotFor(name, batch, length);
        Tensor Heads(Tensor rows, int heads) => rows.View(new TensorShape(batch, length, heads, s.HeadDim));
        Hidden = Slot("hidden");
        Normed = Slot("normed");
        Output = Slot("block_output");
        Query = Slot("q");
        QueryHeads = Heads(Query, s.NumHeads);
        Key = Slot("k");
        KeyHeads = Heads(Key, s.NumKvHeads);
        Value = Slot("v");
        ValueHeads = Heads(Value, s.NumKvHeads);
        AttentionOut = Slot("attention");
        AttentionHeads = Heads(AttentionOut, s.NumHeads);
        FusedQkv = Optional("qkv");
        Mlp = Slot("mlp");
        MlpUp = Optional("mlp_up");
        Embedded = Optional("word_embeddings");
        Ids = Slot("ids");
        Positions = Slot("positions");
        KeyMask = Slot("key_mask");
        LoraHidden = Optional("lora_hidden");
        LoraOutput = Optional("lora_output");
        PrefixKeys = Optional("prefix_keys");
        PrefixValues = Optional("prefix_values");
        if (PrefixKeys is not null)
        {
            int p = ws.Adapters.PrefixTokens;
            Tensor[] PrefixSlots(Tensor buffer) => Enumerable.Range(0, batch)
                .Select(b => buffer.View(new TensorShape(p, s.KvWidth), (long)b * (p + length) * s.KvWidth)).ToArray();
            PrefixKeyRows = PrefixSlots(PrefixKeys);
            PrefixValueRows = PrefixSlots(PrefixValues!);
        }
        if (ws.CacheCapacity > 0)
        {
            KeyCache = Enumerable.Range(0, s.NumLayers).Select(l => Slot(WorkspacePlan.KeyCache(l))).ToArray();
            ValueCache = Enumerable.Range(0, s.NumLayers).Select(l => Slot(WorkspacePlan.ValueCache(l))).ToArray();
        }
    }

    public ForwardWorkspace Workspace { get; }
    public int Batch { get; }
    public int Length { get; }
    public Tensor Hidden { get; }         // (N, C) residual stream
    public Tensor Normed { get; }         // (N, C)
    public Tensor Output { get; }         // (N, C) attention or MLP output before the residual add
    public Tensor Query { get; }          // (N, H·D)
    public Tensor QueryHeads { get; }     // (B, T, H, D), the same bytes
    public Tensor Key { get; }            // (N, KVH·D)
    public Tensor KeyHeads { get; }       // (B, T, KVH, D)
    public Tensor Value { get; }          // (N, KVH·D)
    public Tensor ValueHeads { get; }     // (B, T, KVH, D)
    public Tensor AttentionOut { get; }   // (N, H·D)
    public Tensor AttentionHeads { get; } // (B, T, H, D)
    public Tensor? FusedQkv { get; }      // (N, 3C)
    public Tensor Mlp { get; }            // (N, F)
    public Tensor? MlpUp { get; }         // (N, F)
    public Tensor? Embedded { get; }      // (N, E)
    public Tensor Ids { get; }            // (N) I32
    public Tensor Positions { get; }      // (B, T) I32
    public Tensor KeyMask { get; }        // (B, Tc or P + T) I32
    public Tensor? PrefixKeys { get; }    // (B, P + T, KVH, D): one layer's prefix keys, then the call's own
    public Tensor? PrefixValues { get; }  // (B, P + T, KVH, D)
    public Tensor[]? PrefixKeyRows { get; }   // B × (P, KVH·D): slots [0, P) of each sequence of PrefixKeys
    public Tensor[]? PrefixValueRows { get; }
    public Tensor? LoraHidden { get; }    // (N, r)
    public Tensor? LoraOutput { get; }    // (N, widest adapted output); viewed (N, out) per projection
    public Tensor[]? KeyCache { get; }    // L × (B, Tc, KVH, D)
    public Tensor[]? ValueCache { get; }
}
