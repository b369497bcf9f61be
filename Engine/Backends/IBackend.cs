using MeZO.Engine.Mezo;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends;

public enum ActivationKind
{
    Relu,
    /// <summary>GELU with the tanh approximation (GPT-2's gelu_new, gelu_pytorch_tanh).</summary>
    GeluTanh,
    /// <summary>Exact GELU, x·Φ(x).</summary>
    GeluErf,
    Silu,
}

/// <summary>
/// The small set of operations a decoder-only transformer and the MeZO optimizer need. Weights may be F32, F16 or BF16.
/// Activations (every tensor an op reads or writes that is not a weight, an index, a mask or a float32 statistic) are
/// F32, BF16 or F16, one dtype across an op's activations: the model's compute dtype. An op on 16-bit activations reads
/// them exactly, computes in float32 as it would for float32 activations (statistics, accumulators and softmax in
/// float32), and rounds each element it writes once, to nearest even: the rounding points are the op boundaries, on
/// every backend, so backends differ only in how they order float32 arithmetic inside an op. Shape vocabulary: B batch,
/// T positions in this call, Tc cache capacity, C hidden width, H query heads, KVH key/value heads, D head width,
/// V vocabulary, N = rows (usually B·T), S selected rows. Every op validates its shapes and throws <see cref="ArgumentException"/> naming the tensor.
/// </summary>
public interface IBackend : IDisposable
{
    string Name { get; }

    /// <summary>Bytes currently allocated, by category.</summary>
    MemoryReport Memory { get; }

    /// <summary>
    /// The compute dtype a model of <paramref name="weights"/> runs in when none is asked for: float32 unless the
    /// backend gains from 16-bit activations (the CPU has no 16-bit arithmetic, so only conversions to lose).
    /// </summary>
    DType DefaultCompute(DType weights) => DType.F32;

    Tensor Allocate(TensorShape shape, DType dtype, MemoryCategory category, string name);

    /// <summary>
    /// Copies host values into the whole tensor (at most 2 GiB, what one span holds; a larger tensor goes in ranges,
    /// below). The source may be reused as soon as this returns.
    /// </summary>
    void Upload<T>(Tensor destination, ReadOnlySpan<T> source) where T : unmanaged;

    /// <summary>Copies the whole tensor (at most 2 GiB) to the host after all queued work.</summary>
    void Download<T>(Tensor source, Span<T> destination) where T : unmanaged;

    /// <summary>
    /// Copies host bytes into the tensor's bytes [byteOffset, byteOffset + source.Length): how a tensor of any size is
    /// filled chunk by chunk. The range covers whole elements inside the tensor; the source may be reused as soon as this
    /// returns.
    /// </summary>
    void Upload(Tensor destination, long byteOffset, ReadOnlySpan<byte> source);

    /// <summary>
    /// Copies the tensor's bytes [byteOffset, byteOffset + destination.Length) to the host after all queued work; whole
    /// elements inside the tensor.
    /// </summary>
    void Download(Tensor source, long byteOffset, Span<byte> destination);

    /// <summary>Waits until all queued work has finished (a no-op on the CPU).</summary>
    void Synchronize();

    /// <summary>output(N, C) = table[ids[n]] (or += when <paramref name="accumulate"/>); table (V, C) any float dtype, ids (N) I32.</summary>
    void Embedding(Tensor table, Tensor ids, Tensor output, bool accumulate);

    /// <summary>output(N, C) = (x − mean)/sqrt(var + eps)·weight + bias.</summary>
    void LayerNorm(Tensor x, Tensor weight, Tensor? bias, float eps, Tensor output);

    /// <summary>output(N, C) = x / sqrt(mean(x²) + eps)·weight.</summary>
    void RmsNorm(Tensor x, Tensor weight, float eps, Tensor output);

    /// <summary>
    /// output(M, N) = x(M, K)·Wᵀ + bias, with weight (N, K) as nn.Linear stores it, or (K, N) when
    /// <paramref name="weightTransposed"/> (GPT-2's Conv1D). bias (N) is optional. <paramref name="epilogue"/>: an
    /// activation and a residual add that follow in the same op (<see cref="LinearEpilogue"/>).
    /// </summary>
    void Linear(Tensor x, Tensor weight, bool weightTransposed, Tensor? bias, Tensor output, LinearEpilogue epilogue = default);

    /// <summary>
    /// Rotary embedding in place on x (B, T, heads, D), rotating pairs (i, i + R/2) of the first R = 2·invFrequencies.Length
    /// features (the Hugging Face rotate_half convention); positions (B, T) I32, invFrequencies (R/2) F32.
    /// </summary>
    void Rope(Tensor x, Tensor positions, Tensor invFrequencies);

    /// <summary>
    /// Writes keys and values (B, T, KVH, D) into the caches (B, Tc, KVH, D) at positions [past, past + T).
    /// </summary>
    void KvAppend(Tensor keys, Tensor values, Tensor keyCache, Tensor valueCache, int pastLength);

    /// <summary>
    /// Causal attention with a padding mask and an optional sliding window. q (B, T, H, D); caches (B, Tc, KVH, D)
    /// holding pastLength + T valid positions; keyMask (B, Tc) I32, nonzero for real tokens. Query t sits at cache
    /// position i = pastLength + t and attends keys j ≤ i whose mask is set and, when <paramref name="window"/> &gt; 0,
    /// with i − j &lt; window (the query's own key counts: window 1 attends only itself). Positions are cache slots, as
    /// transformers' sliding_window_overlay counts them; padding on one side leaves the real tokens in consecutive
    /// slots, so there the window counts real tokens. window ≤ 0: no window. Query head h reads key head h / (H / KVH).
    /// A query with no key to attend (a padding position) gets zeros; a query whose attended scores hold a NaN, or are all
    /// −∞ (an overflow), gets NaN: a broken forward pass is never turned into a finite one. output (B, T, H, D).
    /// </summary>
    void Attention(Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength, float scale, int window,
        Tensor output);

    /// <summary>x = f(x) in place.</summary>
    void Activation(ActivationKind kind, Tensor x);

    /// <summary>gate = silu(gate)·up in place; both (N, F).</summary>
    void SiluMul(Tensor gate, Tensor up);

    /// <summary>x += y, same shape.</summary>
    void Add(Tensor x, Tensor y);

    /// <summary>
    /// x += scale·y, same shape, each element fl(x + fl(scale·y)) (no fused multiply-add, so every backend gives the
    /// same bits): a LoRA bypass added to its base projection.
    /// </summary>
    void AddScaled(Tensor x, Tensor y, float scale);

    /// <summary>
    /// output(N, W) = x[:, start : start + W]; x (N, C). Splits GPT-2's fused q/k/v projection, and copies a prefix's
    /// columns into keys and values: x and output may be of different float dtypes, a narrowed value rounded to nearest even.
    /// </summary>
    void SliceColumns(Tensor x, int start, Tensor output);

    /// <summary>output(S, C) = x[rows[s]]; x (N, C), rows (S) I32.</summary>
    void GatherRows(Tensor x, Tensor rows, Tensor output);

    /// <summary>output(S) F32 = log softmax(logits[s])[targets[s]]; logits (S, V) activations, targets (S) I32.</summary>
    void LogSoftmaxGather(Tensor logits, Tensor targets, Tensor output);

    /// <summary>
    /// One vocabulary chunk of a log-softmax: logits (S, W) hold columns [firstColumn, firstColumn + W) of each row's
    /// logits; state (S, 3) F32 holds per row the running maximum m, the running Σ exp(x − m), and the target's logit,
    /// which this chunk sets where targets[s] (S, I32) falls inside it. Start from (−∞, 0, NaN); after the last chunk,
    /// log p(target) = logit − (m + ln Σ). Lets the LM head run over vocabulary slices, so MeZO's perturbed head makes
    /// each weight's z once for any number of scored rows.
    /// </summary>
    void LogSoftmaxAccumulate(Tensor logits, Tensor targets, int firstColumn, Tensor state);

    /// <summary>
    /// output(S) = argmax over V of logits (S, V), the lowest index on ties; −1 for a row that holds a NaN or ±∞, which
    /// has no meaningful argmax (the caller reports the non-finite forward pass).
    /// </summary>
    void Argmax(Tensor logits, Tensor output);

    // MeZO (DESIGN §3). The perturbation is never stored: the forward ops below read a trainable tensor as
    // w + scale·z(noise), each element fl(w + fl(scale·z)) in float32 (no fused multiply-add), and only
    // MezoUpdate writes the weights.

    /// <summary>destination (F32, the weight's element count) = weight + scale·z: small tensors (norm weights, biases).</summary>
    void PerturbedCopy(Tensor weight, TensorNoise noise, float scale, Tensor destination);

    /// <summary><see cref="Embedding"/> from the table rows as perturbed by scale·z: only the gathered rows are read.</summary>
    void PerturbedEmbedding(Tensor table, TensorNoise noise, float scale, Tensor ids, Tensor output, bool accumulate);

    /// <summary>
    /// <see cref="Linear"/> with a perturbed weight for one or two streams that share it (MeZO's lockstep +ε and −ε
    /// passes): outputs[s] = inputs[s]·(W + scales[s]·z)ᵀ + biases[s]. z is generated once for all streams; biases
    /// are passed as the stream reads them (perturbed by the caller where trainable). When the activations are in the
    /// weight's own 16-bit dtype, each fl(w + fl(scale·z)) is rounded to nearest even in that dtype before the product:
    /// a 16-bit model computing in 16 bits multiplies 16-bit operands, as the unperturbed product does (and as
    /// PyTorch's MeZO does, perturbing its 16-bit weights in place), so a GPU runs both at the tensor cores' 16-bit rate.
    /// </summary>
    /// <param name="epilogues">none (empty), or one <see cref="LinearEpilogue"/> per stream</param>
    void PerturbedLinear(Tensor weight, bool weightTransposed, TensorNoise noise, ReadOnlySpan<float> scales,
        ReadOnlySpan<Tensor> inputs, ReadOnlySpan<Tensor?> biases, ReadOnlySpan<Tensor> outputs, ReadOnlySpan<LinearEpilogue> epilogues = default);

    /// <summary>
    /// MeZO's update in place: v = w·factors.Decay − factors.Step·z in float32 (no fused multiply-add); F32 stores v,
    /// F16/BF16 round it stochastically (<see cref="StochasticRounding"/>), bit-identical on every backend. A result
    /// beyond the dtype's largest finite value throws <see cref="OverflowException"/> naming the tensor.
    /// </summary>
    void MezoUpdate(Tensor weight, TensorNoise noise, UpdateFactors factors);
}
