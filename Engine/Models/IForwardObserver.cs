using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>
/// Sees each intermediate tensor of a forward pass right after the op that writes it, like ggml's
/// <c>cb(cur, "attn_norm", il)</c>: how an activation is dumped, or compared op by op between two backends. Attach one
/// with <see cref="ForwardWorkspace.Observer"/>; a pass without one does no extra work.
/// </summary>
/// <remarks>
/// The names, in the order a pass emits them (layer −1 outside the layers; each tensor is (N, width), N = B·T flat rows
/// of the batch, padding included):
/// <list type="bullet">
/// <item><c>token_embed</c> the token embedding rows, where more is added to them (learned positions) or they are projected (OPT-350m's project_in);
/// <c>project_in</c> OPT-350m's projection of them to the hidden size;
/// <c>embed</c> the residual stream entering layer 0 (Hugging Face's <c>hidden_states[0]</c>).</item>
/// <item>Per layer, pre-norm: <c>attn_norm</c>, [<c>qkv</c> GPT-2's fused projection], <c>q</c>, <c>k</c>, <c>v</c> (projected,
/// before RoPE), [<c>q_rope</c>, <c>k_rope</c> rotary models], <c>attn_context</c> (softmax(QKᵀ)V, heads side by side, before
/// o_proj), <c>attn_out</c> (after o_proj), <c>attn_residual</c>, <c>ffn_norm</c>, [<c>ffn_gate</c> gated MLPs], <c>ffn_up</c>,
/// <c>ffn_act</c> (act(up), or silu(gate)·up), <c>ffn_out</c> (after the down projection), <c>ffn_residual</c> (the layer's output).
/// Post-norm (OPT-350m): the same, but <c>attn_norm</c> follows <c>attn_residual</c> and <c>ffn_norm</c> follows
/// <c>ffn_residual</c>, each normalising the residual stream in place.</item>
/// <item><c>final_norm</c> where the model has one; <c>project_out</c> OPT-350m's projection back to the embedding size;
/// <c>logits</c> the LM head at the rows a caller asked logits of (<see cref="Transformer.LogitsAt"/>,
/// <see cref="Transformer.ScoreTokensAndLogits"/>), in chunks of at most <see cref="ForwardWorkspace.LogitRows"/> rows.
/// The log-probability path computes the head in vocabulary slices and does not report it.</item>
/// </list>
/// In a lockstep pass (<see cref="Transformer.ScoreTokensLockstep"/>) each stream reports to its own workspace's
/// observer, the +ε stream's op before the −ε stream's: give the two workspaces different observers to tell them apart.
/// </remarks>
public interface IForwardObserver
{
    /// <summary>
    /// <paramref name="tensor"/> is a view of the workspace on the model's backend, overwritten by later ops: copy what
    /// you keep (<see cref="Backends.IBackend.Download{T}(Tensor, Span{T})"/>) before returning.
    /// </summary>
    void Seen(string name, int layer, Tensor tensor);
}
