namespace MeZO.Engine.Backends;

/// <summary>
/// The backward pass of each forward op of <see cref="IBackend"/> that first-order training needs (issue 12): given
/// the gradient of a scalar loss with respect to an op's output, the gradients with respect to its inputs and
/// parameters. Same shape vocabulary and layouts as the forward ops. Gradients are float32 whatever the weight's dtype
/// (a 16-bit weight is read as float32, as the forward reads it). Conventions, so a tied or shared tensor sums its uses:
/// a parameter's gradient (weight, bias, table) is ADDED to (+=); an input's gradient is written (=), unless the
/// method says otherwise. Every op validates its shapes and throws <see cref="ArgumentException"/> naming the tensor.
/// The CPU backend is the reference; a CUDA twin of each op comes with its kernels.
/// </summary>
public interface IBackwardOps
{
    /// <summary>Every element of <paramref name="t"/> (F32) to +0: a gradient before the first op adds to it.</summary>
    void Zero(Tensor t);

    /// <summary>tableGrad[ids[n]] += outputGrad[n]; outputGrad (N, C), ids (N) I32, tableGrad (V, C) F32.</summary>
    void EmbeddingBackward(Tensor outputGrad, Tensor ids, Tensor tableGrad);

    /// <summary>
    /// Of output = (x − mean)/sqrt(var + eps)·weight + bias: inputGrad (N, C) =, weightGrad (C) +=, biasGrad (C) += when given.
    /// </summary>
    void LayerNormBackward(Tensor x, Tensor weight, float eps, Tensor outputGrad, Tensor inputGrad, Tensor weightGrad, Tensor? biasGrad);

    /// <summary>Of output = x / sqrt(mean(x²) + eps)·weight: inputGrad (N, C) =, weightGrad (C) +=.</summary>
    void RmsNormBackward(Tensor x, Tensor weight, float eps, Tensor outputGrad, Tensor inputGrad, Tensor weightGrad);

    /// <summary>
    /// Of output(M, N) = x(M, K)·Wᵀ + bias (W (N, K), or (K, N) when <paramref name="weightTransposed"/>):
    /// inputGrad (M, K) = outputGrad·W; weightGrad (W's shape) += outputGrad ᵀ·x (transposed to W's layout);
    /// biasGrad (N) += column sums of outputGrad. Any of the three may be null (not needed).
    /// </summary>
    void LinearBackward(Tensor x, Tensor weight, bool weightTransposed, Tensor outputGrad, Tensor? inputGrad, Tensor? weightGrad,
        Tensor? biasGrad);

    /// <summary>
    /// Of <see cref="IBackend.Rope"/>: rotates the gradient (B, T, heads, D) in place by the inverse rotation (the
    /// rotation is orthogonal, so its transpose is the rotation by −angle); features beyond the rotary ones pass through.
    /// </summary>
    void RopeBackward(Tensor grad, Tensor positions, Tensor invFrequencies);

    /// <summary>
    /// Of <see cref="IBackend.Attention"/> with the same q, caches, mask, pastLength, scale and window, given its
    /// output (B, T, H, D) and the output's gradient: qGrad (B, T, H, D) =; keyGrad and valueGrad (B, Tc, KVH, D) +=
    /// (a key/value head sums the query heads that read it, and a cache slot every query that attends it). A query
    /// with no key to attend has zero gradient.
    /// </summary>
    void AttentionBackward(Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength, float scale, int window,
        Tensor output, Tensor outputGrad, Tensor qGrad, Tensor keyGrad, Tensor valueGrad);

    /// <summary>Of x = f(x): grad (N, F) is multiplied in place by f′(input), input being the activation's input.</summary>
    void ActivationBackward(ActivationKind kind, Tensor input, Tensor grad);

    /// <summary>Of output = silu(gate)·up: gateGrad = outputGrad·up·silu′(gate), upGrad = outputGrad·silu(gate); all (N, F).</summary>
    void SiluMulBackward(Tensor gate, Tensor up, Tensor outputGrad, Tensor gateGrad, Tensor upGrad);

    /// <summary>
    /// Of output[s] = log softmax(logits[s])[targets[s]]: logitsGrad[s] (S, V) = outputGrad[s]·(onehot(targets[s]) −
    /// softmax(logits[s])); outputGrad (S) F32 (e.g. −1/n for a mean negative log-likelihood).
    /// </summary>
    void LogSoftmaxGatherBackward(Tensor logits, Tensor targets, Tensor outputGrad, Tensor logitsGrad);

    /// <summary>
    /// Of <see cref="IBackend.SliceColumns"/>: inputGrad (N, C) columns [start, start + W) = outputGrad (N, W); the
    /// other columns are left as they are (the fused q, k and v slices each write their own third).
    /// </summary>
    void SliceColumnsBackward(Tensor outputGrad, int start, Tensor inputGrad);

    /// <summary>
    /// Of <see cref="IBackend.GatherRows"/>: inputGrad[rows[s]] += outputGrad[s]; outputGrad (S, C), rows (S) I32,
    /// inputGrad (N, C) F32. A row picked twice sums both, in the order of s, so the result does not depend on timing.
    /// </summary>
    void GatherRowsBackward(Tensor outputGrad, Tensor rows, Tensor inputGrad);
}
