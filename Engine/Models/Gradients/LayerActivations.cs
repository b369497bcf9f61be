using MeZO.Engine.Backends;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models.Gradients;

/// <summary>
/// What one block's backward pass reads, kept from its forward pass (<see cref="ActivationTape"/>) in buffers of its own
/// (N = B·T rows). Pre-norm: Input → Normed1 = norm(Input) → attention → Mid = Input + attn → Normed2 = norm(Mid) → MLP
/// → next = Mid + mlp. Post-norm (OPT-350m): Input → attention → Sum1 = Input + attn → Mid = norm(Sum1) → MLP → Sum2 =
/// Mid + mlp → next = norm(Sum2). The layer's input and output are kept apart, in the residual buffers.
/// </summary>
internal sealed class LayerActivations : IDisposable
{
    private readonly bool _owner;

    public LayerActivations(IBackend backend, ArchitectureSpec s, string prefix, int rows)
    {
        _owner = true;
        var widths = Widths(s);
        Tensor? A(string name) => widths.TryGetValue(name, out int width)
            ? backend.Allocate(new TensorShape(rows, width), DType.F32, MemoryCategory.Activations, $"{prefix}.{name}")
            : null;
        Normed1 = A("normed1");
        Query = A("q")!;
        Key = A("k")!;
        Value = A("v")!;
        Context = A("context")!;
        Sum1 = A("sum1");
        Mid = A("mid")!;
        Normed2 = A("normed2");
        PreActivation = A("pre_activation")!;
        Up = A("up");
        Activated = A("activated")!;
        Sum2 = A("sum2");
    }

    /// <summary>Bytes one layer's activations take for <paramref name="rows"/> rows.</summary>
    public static long BytesFor(ArchitectureSpec s, long rows) => Widths(s).Values.Sum(w => rows * w * sizeof(float));

    /// <summary>The width of each buffer this architecture keeps, by name.</summary>
    private static Dictionary<string, int> Widths(ArchitectureSpec s)
    {
        var widths = new Dictionary<string, int>
        {
            ["q"] = s.QueryWidth, ["k"] = s.KvWidth, ["v"] = s.KvWidth, ["context"] = s.QueryWidth, ["mid"] = s.HiddenSize,
            ["pre_activation"] = s.IntermediateSize, ["activated"] = s.IntermediateSize,
        };
        if (s.PreNorm)
        {
            widths["normed1"] = s.HiddenSize;
            widths["normed2"] = s.HiddenSize;
        }
        else
        {
            widths["sum1"] = s.HiddenSize;
            widths["sum2"] = s.HiddenSize;
        }
        if (s.Mlp == MlpKind.Gated) widths["up"] = s.IntermediateSize;
        return widths;
    }

    private LayerActivations(LayerActivations whole, int rows)
    {
        Tensor? V(Tensor? t) => t?.View(new TensorShape(rows, t.Shape[1]));
        Normed1 = V(whole.Normed1);
        Query = V(whole.Query)!;
        Key = V(whole.Key)!;
        Value = V(whole.Value)!;
        Context = V(whole.Context)!;
        Sum1 = V(whole.Sum1);
        Mid = V(whole.Mid)!;
        Normed2 = V(whole.Normed2);
        PreActivation = V(whole.PreActivation)!;
        Up = V(whole.Up);
        Activated = V(whole.Activated)!;
        Sum2 = V(whole.Sum2);
    }

    /// <summary>The first <paramref name="rows"/> rows of every buffer: a call smaller than the largest one.</summary>
    public LayerActivations Rows(int rows) => new(this, rows);

    public Tensor? Normed1 { get; }       // (N, C) pre-norm only
    public Tensor Query { get; }          // (N, H·D) after RoPE
    public Tensor Key { get; }            // (N, KVH·D) after RoPE
    public Tensor Value { get; }          // (N, KVH·D)
    public Tensor Context { get; }        // (N, H·D) attention output, before the output projection
    public Tensor? Sum1 { get; }          // (N, C) post-norm only: input + attention, before the norm
    public Tensor Mid { get; }            // (N, C) the residual stream between attention and MLP
    public Tensor? Normed2 { get; }       // (N, C) pre-norm only
    public Tensor PreActivation { get; }  // (N, F) dense: fc1/c_fc output before the activation; gated: the gate projection
    public Tensor? Up { get; }            // (N, F) gated only: the up projection
    public Tensor Activated { get; }      // (N, F) the down projection's input
    public Tensor? Sum2 { get; }          // (N, C) post-norm only: mid + MLP, before the norm

    /// <summary>Tells the tape to keep layer <paramref name="l"/>'s activations here, under IForwardObserver's names.</summary>
    public void KeepOn(ActivationTape tape, ArchitectureSpec s, int l)
    {
        bool rotary = s.Positions == PositionKind.Rotary;
        if (s.PreNorm)
        {
            tape.Keep("attn_norm", l, Normed1!);
            tape.Keep("attn_residual", l, Mid);
            tape.Keep("ffn_norm", l, Normed2!);
        }
        else
        {
            tape.Keep("attn_residual", l, Sum1!);
            tape.Keep("attn_norm", l, Mid);
            tape.Keep("ffn_residual", l, Sum2!);
        }
        tape.Keep(rotary ? "q_rope" : "q", l, Query);
        tape.Keep(rotary ? "k_rope" : "k", l, Key);
        tape.Keep("v", l, Value);
        tape.Keep("attn_context", l, Context);
        if (Up is not null)
        {
            tape.Keep("ffn_gate", l, PreActivation);
            tape.Keep("ffn_up", l, Up);
        }
        else
            tape.Keep("ffn_up", l, PreActivation);
        tape.Keep("ffn_act", l, Activated);
    }

    public long Bytes
    {
        get
        {
            long bytes = 0;
            foreach (var t in All) bytes += t?.ByteCount ?? 0;
            return bytes;
        }
    }

    private Tensor?[] All => [Normed1, Query, Key, Value, Context, Sum1, Mid, Normed2, PreActivation, Up, Activated, Sum2];

    public void Dispose()
    {
        if (!_owner) return;
        foreach (var t in All) t?.Dispose();
    }
}
