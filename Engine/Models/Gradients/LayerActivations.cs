using MeZO.Engine.Backends;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models.Gradients;

/// <summary>
/// What one block's backward pass reads, kept from its forward pass in buffers of its own (N = B·T rows). Pre-norm:
/// Input → Normed1 = norm(Input) → attention → Mid = Input + attn → Normed2 = norm(Mid) → MLP → next = Mid + mlp.
/// Post-norm (OPT-350m): Input → attention → Sum1 = Input + attn → Mid = norm(Sum1) → MLP → Sum2 = Mid + mlp → next
/// = norm(Sum2). The layer's input lives in the previous layer's (or the embeddings') residual buffer.
/// </summary>
internal sealed class LayerActivations : IDisposable
{
    public LayerActivations(IBackend backend, ArchitectureSpec s, int l, int rows)
    {
        Tensor A(string name, int width) =>
            backend.Allocate(new TensorShape(rows, width), DType.F32, MemoryCategory.Activations, $"layers.{l}.{name}");
        bool gated = s.Mlp == MlpKind.Gated;
        Normed1 = s.PreNorm ? A("normed1", s.HiddenSize) : null;
        Query = A("q", s.QueryWidth);
        Key = A("k", s.KvWidth);
        Value = A("v", s.KvWidth);
        Context = A("context", s.QueryWidth);
        Sum1 = s.PreNorm ? null : A("sum1", s.HiddenSize);
        Mid = A("mid", s.HiddenSize);
        Normed2 = s.PreNorm ? A("normed2", s.HiddenSize) : null;
        PreActivation = A("pre_activation", s.IntermediateSize);
        Up = gated ? A("up", s.IntermediateSize) : null;
        Activated = A("activated", s.IntermediateSize);
        Sum2 = s.PreNorm ? null : A("sum2", s.HiddenSize);
    }

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

    public void Dispose()
    {
        foreach (var t in (ReadOnlySpan<Tensor?>)[Normed1, Query, Key, Value, Context, Sum1, Mid, Normed2, PreActivation, Up, Activated, Sum2])
            t?.Dispose();
    }
}
