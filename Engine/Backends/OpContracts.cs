using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends;

/// <summary>
/// What every <see cref="IBackend"/> op requires of its arguments, written once: each backend calls the op's method
/// here, then runs its own implementation, so the CPU and CUDA backends accept and reject exactly the same calls with
/// the same messages. A backend checks that it is not disposed before calling here.
/// </summary>
internal static class OpContracts
{
    public static void Upload(IBackend backend, Tensor destination, long sourceBytes)
    {
        ShapeChecks.Owned(backend, destination, nameof(IBackend.Upload));
        if (sourceBytes != destination.ByteCount)
            throw new ArgumentException($"Upload: {sourceBytes} bytes do not fit '{destination.Name}' ({destination.ByteCount} bytes)");
    }

    public static void Download(IBackend backend, Tensor source, long destinationBytes)
    {
        ShapeChecks.Owned(backend, source, nameof(IBackend.Download));
        if (destinationBytes != source.ByteCount)
            throw new ArgumentException($"Download: '{source.Name}' ({source.ByteCount} bytes) does not fit {destinationBytes} bytes");
    }

    public static void UploadRange(IBackend backend, Tensor destination, long byteOffset, int byteCount) =>
        ByteRange(backend, nameof(IBackend.Upload), destination, byteOffset, byteCount);

    public static void DownloadRange(IBackend backend, Tensor source, long byteOffset, int byteCount) =>
        ByteRange(backend, nameof(IBackend.Download), source, byteOffset, byteCount);

    public static void Embedding(IBackend backend, Tensor table, Tensor ids, Tensor output)
    {
        const string op = nameof(IBackend.Embedding);
        ShapeChecks.Owned(backend, op, table, ids, output);
        ShapeChecks.Rank(table, 2, op);
        ShapeChecks.Float(table, op);
        ShapeChecks.Type(ids, DType.I32, op);
        ShapeChecks.Activations(op, output);
        ShapeChecks.Elements(output, ids.ElementCount * table.Shape[1], op);
    }

    public static void LayerNorm(IBackend backend, Tensor x, Tensor weight, Tensor? bias, Tensor output)
    {
        const string op = nameof(IBackend.LayerNorm);
        ShapeChecks.Owned(backend, op, x, weight, output);
        if (bias is not null) ShapeChecks.Owned(backend, op, bias);
        Norm(op, x, weight, output);
        if (bias is not null)
        {
            ShapeChecks.Float(bias, op);
            ShapeChecks.Elements(bias, x.Shape[-1], op);
        }
    }

    public static void RmsNorm(IBackend backend, Tensor x, Tensor weight, Tensor output)
    {
        const string op = nameof(IBackend.RmsNorm);
        ShapeChecks.Owned(backend, op, x, weight, output);
        Norm(op, x, weight, output);
    }

    public static void Linear(IBackend backend, Tensor x, Tensor weight, bool weightTransposed, Tensor? bias, Tensor output,
        LinearEpilogue epilogue = default)
    {
        const string op = nameof(IBackend.Linear);
        int n = Product(backend, op, x, weight, weightTransposed, output);
        if (bias is not null)
        {
            ShapeChecks.Owned(backend, op, bias);
            ShapeChecks.Float(bias, op);
            ShapeChecks.Elements(bias, n, op);
        }
        Epilogue(backend, op, x, output, epilogue);
    }

    /// <summary>A residual of the output's shape and dtype, neither the output nor the input; an activation the enum names.</summary>
    private static void Epilogue(IBackend backend, string op, Tensor x, Tensor output, LinearEpilogue epilogue)
    {
        if (epilogue.Activation is { } kind && !Enum.IsDefined(kind))
            throw new ArgumentOutOfRangeException(nameof(epilogue), kind, $"{op}: no such activation");
        if (epilogue.Residual is not { } residual) return;
        ShapeChecks.Owned(backend, op, residual);
        ShapeChecks.Activations(op, output, residual);
        ShapeChecks.SameShape(output, residual, op);
        if (ReferenceEquals(residual, output) || ReferenceEquals(residual, x))
            throw new ArgumentException($"{op}: the residual '{residual.Name}' must be a tensor of its own, not the product's input or output");
    }

    public static void Rope(IBackend backend, Tensor x, Tensor positions, Tensor invFrequencies) =>
        Rotation(backend, nameof(IBackend.Rope), x, positions, invFrequencies);

    /// <summary>Rope and its backward: x (B, T, heads, D) activations rotated at positions (B, T) by at most D/2 frequencies.</summary>
    internal static void Rotation(IBackend backend, string op, Tensor x, Tensor positions, Tensor invFrequencies)
    {
        ShapeChecks.Owned(backend, op, x, positions, invFrequencies);
        ShapeChecks.Rank(x, 4, op);
        ShapeChecks.Activations(op, x);
        ShapeChecks.Type(positions, DType.I32, op);
        ShapeChecks.Type(invFrequencies, DType.F32, op);
        ShapeChecks.Elements(positions, (long)x.Shape[0] * x.Shape[1], op);
        if (2 * invFrequencies.ElementCount > x.Shape[3])
            throw new ArgumentException(
                $"{op}: '{invFrequencies.Name}' rotates {2 * invFrequencies.ElementCount} features, more than the head width {x.Shape[3]} of '{x.Name}'");
    }

    public static void KvAppend(IBackend backend, Tensor keys, Tensor values, Tensor keyCache, Tensor valueCache, int pastLength)
    {
        const string op = nameof(IBackend.KvAppend);
        ShapeChecks.Owned(backend, op, keys, values, keyCache, valueCache);
        ActivationsRank4(op, keys, values, keyCache, valueCache);
        ShapeChecks.SameShape(keys, values, op);
        ShapeChecks.SameShape(keyCache, valueCache, op);
        if (keys.Shape[0] != keyCache.Shape[0] || keys.Shape[2] != keyCache.Shape[2] || keys.Shape[3] != keyCache.Shape[3])
            throw new ArgumentException($"{op}: '{keys.Name}' {keys.Shape} does not match the (batch, heads, width) of '{keyCache.Name}' {keyCache.Shape}");
        Capacity(op, keyCache, pastLength, keys.Shape[1]);
    }

    public static void Attention(IBackend backend, Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength,
        Tensor output) =>
        AttentionShapes(backend, nameof(IBackend.Attention), q, keyCache, valueCache, keyMask, pastLength, output);

    /// <summary>Attention and its backward: what the forward's arguments must be, whichever op is checking them.</summary>
    internal static void AttentionShapes(IBackend backend, string op, Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask,
        int pastLength, Tensor output)
    {
        ShapeChecks.Owned(backend, op, q, keyCache, valueCache, keyMask, output);
        ActivationsRank4(op, q, keyCache, valueCache, output);
        ShapeChecks.SameShape(q, output, op);
        ShapeChecks.SameShape(keyCache, valueCache, op);
        ShapeChecks.Type(keyMask, DType.I32, op);
        int batch = q.Shape[0], length = q.Shape[1], heads = q.Shape[2], headDim = q.Shape[3];
        int capacity = keyCache.Shape[1], kvHeads = keyCache.Shape[2];
        ShapeChecks.Dim(keyCache, 0, batch, op);
        ShapeChecks.Dim(keyCache, 3, headDim, op);
        ShapeChecks.Elements(keyMask, (long)batch * capacity, op);
        if (kvHeads == 0 || heads % kvHeads != 0)
            throw new ArgumentException($"{op}: the {heads} heads of '{q.Name}' are not a multiple of the {kvHeads} heads of '{keyCache.Name}'");
        Capacity(op, keyCache, pastLength, length);
    }

    public static void Activation(IBackend backend, Tensor x)
    {
        const string op = nameof(IBackend.Activation);
        ShapeChecks.Owned(backend, op, x);
        ShapeChecks.Activations(op, x);
    }

    public static void SiluMul(IBackend backend, Tensor gate, Tensor up) =>
        ElementwisePair(backend, nameof(IBackend.SiluMul), gate, up);

    public static void Add(IBackend backend, Tensor x, Tensor y) => ElementwisePair(backend, nameof(IBackend.Add), x, y);

    public static void AddScaled(IBackend backend, Tensor x, Tensor y, float scale)
    {
        ElementwisePair(backend, nameof(IBackend.AddScaled), x, y);
        if (!float.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, $"{nameof(IBackend.AddScaled)}: the scale must be finite");
    }

    public static void SliceColumns(IBackend backend, Tensor x, int start, Tensor output) =>
        ColumnSlice(backend, nameof(IBackend.SliceColumns), x, start, output);

    public static void GatherRows(IBackend backend, Tensor x, Tensor rows, Tensor output) =>
        RowGather(backend, nameof(IBackend.GatherRows), x, rows, output);

    /// <summary>
    /// x (M, K) activations against a float weight (N, K), or (K, N) when transposed, and (M, N) activations of x's dtype: the shapes of
    /// Linear's product, and of its backward with the output's gradient in the output's place. Returns N.
    /// </summary>
    internal static int Product(IBackend backend, string op, Tensor x, Tensor weight, bool weightTransposed, Tensor output)
    {
        ShapeChecks.Owned(backend, op, x, weight, output);
        ShapeChecks.Activations(op, x, output);
        ShapeChecks.Rank(weight, 2, op);
        ShapeChecks.Float(weight, op);
        int k = x.Shape[-1];
        int n = weightTransposed ? weight.Shape[1] : weight.Shape[0];
        int weightK = weightTransposed ? weight.Shape[0] : weight.Shape[1];
        if (weightK != k)
            throw new ArgumentException($"{op}: '{x.Name}' {x.Shape} has {k} features but weight '{weight.Name}' {weight.Shape} expects {weightK}");
        ShapeChecks.Dim(output, -1, n, op);
        ShapeChecks.Elements(output, x.Shape.Rows * n, op);
        return n;
    }

    /// <summary>
    /// An (N, W) <paramref name="part"/> that is columns [start, start + W) of an (N, C) <paramref name="whole"/>, each
    /// of any float dtype (a float32 prefix is sliced into 16-bit keys).
    /// </summary>
    internal static void ColumnSlice(IBackend backend, string op, Tensor whole, int start, Tensor part)
    {
        ShapeChecks.Owned(backend, op, whole, part);
        ShapeChecks.Float(whole, op);
        ShapeChecks.Float(part, op);
        int width = part.Shape[-1];
        if (start < 0 || start + width > whole.Shape[-1])
            throw new ArgumentException($"{op}: columns [{start}, {start + width}) are outside '{whole.Name}' {whole.Shape}");
        ShapeChecks.Elements(part, whole.Shape.Rows * width, op);
    }

    /// <summary>An (S, C) <paramref name="gathered"/> of rows (S) I32 of an (N, C) <paramref name="whole"/> of its dtype.</summary>
    internal static void RowGather(IBackend backend, string op, Tensor whole, Tensor rows, Tensor gathered)
    {
        ShapeChecks.Owned(backend, op, whole, rows, gathered);
        ShapeChecks.Activations(op, whole, gathered);
        ShapeChecks.Type(rows, DType.I32, op);
        ShapeChecks.Elements(gathered, rows.ElementCount * whole.Shape[-1], op);
    }

    public static void LogSoftmaxGather(IBackend backend, Tensor logits, Tensor targets, Tensor output)
    {
        const string op = nameof(IBackend.LogSoftmaxGather);
        ShapeChecks.Owned(backend, op, logits, targets, output);
        ShapeChecks.Activations(op, logits);
        ShapeChecks.Type(targets, DType.I32, op);
        ShapeChecks.Type(output, DType.F32, op);
        ShapeChecks.Elements(targets, logits.Shape.Rows, op);
        ShapeChecks.Elements(output, logits.Shape.Rows, op);
    }

    public static void LogSoftmaxAccumulate(IBackend backend, Tensor logits, Tensor targets, int firstColumn, Tensor state)
    {
        const string op = nameof(IBackend.LogSoftmaxAccumulate);
        ShapeChecks.Owned(backend, op, logits, targets, state);
        ShapeChecks.Activations(op, logits);
        ShapeChecks.Type(targets, DType.I32, op);
        ShapeChecks.Type(state, DType.F32, op);
        ShapeChecks.Elements(targets, logits.Shape.Rows, op);
        ShapeChecks.Elements(state, 3 * logits.Shape.Rows, op);
        if (firstColumn < 0) throw new ArgumentException($"{op}: the first column {firstColumn} is negative");
    }

    public static void Argmax(IBackend backend, Tensor logits, Tensor output)
    {
        const string op = nameof(IBackend.Argmax);
        ShapeChecks.Owned(backend, op, logits, output);
        ShapeChecks.Activations(op, logits);
        ShapeChecks.Type(output, DType.I32, op);
        ShapeChecks.Elements(output, logits.Shape.Rows, op);
        if (logits.Shape.Rows > 0 && logits.Shape[-1] == 0)
            throw new ArgumentException($"{op}: '{logits.Name}' {logits.Shape} has no columns to choose from");
    }

    public static void PerturbedCopy(IBackend backend, Tensor weight, Tensor destination)
    {
        const string op = nameof(IBackend.PerturbedCopy);
        ShapeChecks.Owned(backend, op, weight, destination);
        ShapeChecks.Float(weight, op);
        ShapeChecks.Type(destination, DType.F32, op);
        ShapeChecks.Elements(destination, weight.ElementCount, op);
    }

    /// <summary>One to two streams, each a valid <see cref="Linear"/> with the shared weight (and its epilogue, if any).</summary>
    public static void PerturbedLinear(IBackend backend, Tensor weight, bool weightTransposed, ReadOnlySpan<float> scales,
        ReadOnlySpan<Tensor> inputs, ReadOnlySpan<Tensor?> biases, ReadOnlySpan<Tensor> outputs, ReadOnlySpan<LinearEpilogue> epilogues = default)
    {
        const string op = nameof(IBackend.PerturbedLinear);
        if (inputs.Length is < 1 or > 2 || scales.Length != inputs.Length || biases.Length != inputs.Length || outputs.Length != inputs.Length ||
            (epilogues.Length != 0 && epilogues.Length != inputs.Length))
            throw new ArgumentException($"{op}: one or two streams, each with a scale, an input, a bias (or null) and an output (and an epilogue, or none for all)");
        for (int s = 0; s < inputs.Length; s++)
            Linear(backend, inputs[s], weight, weightTransposed, biases[s], outputs[s], epilogues.Length == 0 ? default : epilogues[s]);
        if (inputs.Length == 2 && inputs[1].Shape.Rows != inputs[0].Shape.Rows)
            throw new ArgumentException($"{op}: the streams '{inputs[0].Name}' and '{inputs[1].Name}' must have as many rows");
    }

    /// <summary>
    /// The dtype a perturbed product rounds θ ± εz to before multiplying (IBackend.PerturbedLinear): the weight's own
    /// when the activations are in that 16-bit dtype, else none (F32). Decided here once for every backend.
    /// </summary>
    public static DType PerturbedWeightRounding(Tensor weight, Tensor input) =>
        weight.DType != DType.F32 && input.DType == weight.DType ? weight.DType : DType.F32;

    public static void MezoUpdate(IBackend backend, Tensor weight) => FloatWeight(backend, nameof(IBackend.MezoUpdate), weight);

    /// <summary>
    /// A ranged copy lies inside the tensor and covers whole elements. Bytes would copy either way, but a range that
    /// splits an element is always a caller's slip (an offset counted in elements used as bytes, or a chunk size that is
    /// not a multiple of the element size), and it is caught here rather than as torn values later.
    /// </summary>
    private static void ByteRange(IBackend backend, string op, Tensor t, long byteOffset, int byteCount)
    {
        ShapeChecks.Owned(backend, op, t);
        if (byteOffset < 0 || byteOffset > t.ByteCount - byteCount)
            throw new ArgumentException($"{op}: bytes [{byteOffset}, {byteOffset + byteCount}) are outside '{t.Name}' ({t.ByteCount} bytes)");
        int size = t.DType.SizeOf();
        if (byteOffset % size != 0 || byteCount % size != 0)
            throw new ArgumentException(
                $"{op}: bytes [{byteOffset}, {byteOffset + byteCount}) of '{t.Name}' split its {size}-byte {t.DType} elements; copy whole elements");
    }

    /// <summary>KvAppend and Attention: (B, T, heads, D) activations of one dtype. A span, not an array: these run in every layer.</summary>
    private static void ActivationsRank4(string op, params ReadOnlySpan<Tensor> tensors)
    {
        foreach (var t in tensors) ShapeChecks.Rank(t, 4, op);
        ShapeChecks.Activations(op, tensors);
    }

    /// <summary>SiluMul, Add and AddScaled: two activations of one dtype and as many elements, the first updated in place.</summary>
    private static void ElementwisePair(IBackend backend, string op, Tensor x, Tensor y)
    {
        ShapeChecks.Owned(backend, op, x, y);
        ShapeChecks.Activations(op, x, y);
        ShapeChecks.Elements(y, x.ElementCount, op);
    }

    /// <summary>MezoUpdate: a weight of any float dtype, updated in place.</summary>
    private static void FloatWeight(IBackend backend, string op, Tensor weight)
    {
        ShapeChecks.Owned(backend, op, weight);
        ShapeChecks.Float(weight, op);
    }

    /// <summary>LayerNorm and RMSNorm: x and output (N, C) activations of one shape and dtype, a float weight of C elements.</summary>
    private static void Norm(string op, Tensor x, Tensor weight, Tensor output)
    {
        ShapeChecks.Activations(op, x, output);
        ShapeChecks.Float(weight, op);
        ShapeChecks.SameShape(x, output, op);
        ShapeChecks.Elements(weight, x.Shape[-1], op);
    }

    /// <summary>The positions [pastLength, pastLength + length) must lie inside the cache's capacity (axis 1).</summary>
    private static void Capacity(string op, Tensor cache, int pastLength, int length)
    {
        if (pastLength < 0 || pastLength + length > cache.Shape[1])
            throw new ArgumentException($"{op}: {pastLength} cached + {length} new positions exceed the capacity {cache.Shape[1]} of '{cache.Name}'");
    }
}
