using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends;

/// <summary>
/// What every <see cref="IBackwardOps"/> op requires of its arguments, written once as <see cref="OpContracts"/> is for
/// the forward ops: a backend calls the op's method here, then its own implementation. Gradients are float32 whatever
/// the dtype of the tensor they belong to; each has the shape (or element count) of that tensor.
/// </summary>
internal static class BackwardContracts
{
    public static void Embedding(IBackend backend, Tensor outputGrad, Tensor ids, Tensor tableGrad)
    {
        const string op = nameof(IBackwardOps.EmbeddingBackward);
        Owned(backend, op, outputGrad, ids, tableGrad);
        ShapeChecks.Rank(tableGrad, 2, op);
        ShapeChecks.Type(tableGrad, DType.F32, op);
        ShapeChecks.Type(ids, DType.I32, op);
        ShapeChecks.Type(outputGrad, DType.F32, op);
        ShapeChecks.Elements(outputGrad, ids.ElementCount * tableGrad.Shape[1], op);
    }

    public static void LayerNorm(IBackend backend, Tensor x, Tensor weight, Tensor outputGrad, Tensor inputGrad, Tensor weightGrad,
        Tensor? biasGrad)
    {
        const string op = nameof(IBackwardOps.LayerNormBackward);
        Owned(backend, op, x, weight, outputGrad, inputGrad, weightGrad);
        Norm(op, x, weight, outputGrad, inputGrad, weightGrad);
        if (biasGrad is not null)
        {
            Owned(backend, op, biasGrad);
            ShapeChecks.Type(biasGrad, DType.F32, op);
            ShapeChecks.Elements(biasGrad, x.Shape[-1], op);
        }
    }

    public static void RmsNorm(IBackend backend, Tensor x, Tensor weight, Tensor outputGrad, Tensor inputGrad, Tensor weightGrad)
    {
        const string op = nameof(IBackwardOps.RmsNormBackward);
        Owned(backend, op, x, weight, outputGrad, inputGrad, weightGrad);
        Norm(op, x, weight, outputGrad, inputGrad, weightGrad);
    }

    public static void Linear(IBackend backend, Tensor x, Tensor weight, bool weightTransposed, Tensor outputGrad, Tensor? inputGrad,
        Tensor? weightGrad, Tensor? biasGrad)
    {
        const string op = nameof(IBackwardOps.LinearBackward);
        Owned(backend, op, x, weight, outputGrad);
        ShapeChecks.Type(x, DType.F32, op);
        ShapeChecks.Type(outputGrad, DType.F32, op);
        ShapeChecks.Rank(weight, 2, op);
        ShapeChecks.Float(weight, op);
        int k = x.Shape[-1];
        int n = weightTransposed ? weight.Shape[1] : weight.Shape[0];
        int weightK = weightTransposed ? weight.Shape[0] : weight.Shape[1];
        if (weightK != k)
            throw new ArgumentException($"{op}: '{x.Name}' {x.Shape} has {k} features but weight '{weight.Name}' {weight.Shape} expects {weightK}");
        ShapeChecks.Dim(outputGrad, -1, n, op);
        ShapeChecks.Elements(outputGrad, x.Shape.Rows * n, op);
        if (inputGrad is not null)
        {
            Owned(backend, op, inputGrad);
            ShapeChecks.Type(inputGrad, DType.F32, op);
            ShapeChecks.SameShape(x, inputGrad, op);
        }
        if (weightGrad is not null)
        {
            Owned(backend, op, weightGrad);
            ShapeChecks.Type(weightGrad, DType.F32, op);
            ShapeChecks.SameShape(weight, weightGrad, op);
        }
        if (biasGrad is not null)
        {
            Owned(backend, op, biasGrad);
            ShapeChecks.Type(biasGrad, DType.F32, op);
            ShapeChecks.Elements(biasGrad, n, op);
        }
    }

    public static void Activation(IBackend backend, Tensor input, Tensor grad)
    {
        const string op = nameof(IBackwardOps.ActivationBackward);
        Owned(backend, op, input, grad);
        SameFloat32(op, input, grad);
    }

    public static void SiluMul(IBackend backend, Tensor gate, Tensor up, Tensor outputGrad, Tensor gateGrad, Tensor upGrad)
    {
        const string op = nameof(IBackwardOps.SiluMulBackward);
        Owned(backend, op, gate, up, outputGrad, gateGrad, upGrad);
        SameFloat32(op, gate, up, outputGrad, gateGrad, upGrad);
    }

    public static void LogSoftmaxGather(IBackend backend, Tensor logits, Tensor targets, Tensor outputGrad, Tensor logitsGrad)
    {
        const string op = nameof(IBackwardOps.LogSoftmaxGatherBackward);
        Owned(backend, op, logits, targets, outputGrad, logitsGrad);
        ShapeChecks.Type(logits, DType.F32, op);
        ShapeChecks.Type(targets, DType.I32, op);
        ShapeChecks.Type(outputGrad, DType.F32, op);
        ShapeChecks.Type(logitsGrad, DType.F32, op);
        ShapeChecks.Elements(targets, logits.Shape.Rows, op);
        ShapeChecks.Elements(outputGrad, logits.Shape.Rows, op);
        ShapeChecks.SameShape(logits, logitsGrad, op);
    }

    public static void SliceColumns(IBackend backend, Tensor outputGrad, int start, Tensor inputGrad)
    {
        const string op = nameof(IBackwardOps.SliceColumnsBackward);
        Owned(backend, op, outputGrad, inputGrad);
        ShapeChecks.Type(outputGrad, DType.F32, op);
        ShapeChecks.Type(inputGrad, DType.F32, op);
        int width = outputGrad.Shape[-1];
        if (start < 0 || start + width > inputGrad.Shape[-1])
            throw new ArgumentException($"{op}: columns [{start}, {start + width}) are outside '{inputGrad.Name}' {inputGrad.Shape}");
        ShapeChecks.Elements(outputGrad, inputGrad.Shape.Rows * width, op);
    }

    public static void GatherRows(IBackend backend, Tensor outputGrad, Tensor rows, Tensor inputGrad)
    {
        const string op = nameof(IBackwardOps.GatherRowsBackward);
        Owned(backend, op, outputGrad, rows, inputGrad);
        ShapeChecks.Type(outputGrad, DType.F32, op);
        ShapeChecks.Type(inputGrad, DType.F32, op);
        ShapeChecks.Type(rows, DType.I32, op);
        ShapeChecks.Elements(outputGrad, rows.ElementCount * inputGrad.Shape[-1], op);
    }

    private static void Owned(IBackend backend, string op, params ReadOnlySpan<Tensor> tensors)
    {
        foreach (var t in tensors) ShapeChecks.Owned(backend, t, op);
    }

    /// <summary>Element-wise backward ops: float32 tensors of as many elements as the first.</summary>
    private static void SameFloat32(string op, params ReadOnlySpan<Tensor> tensors)
    {
        foreach (var t in tensors)
        {
            ShapeChecks.Type(t, DType.F32, op);
            ShapeChecks.Elements(t, tensors[0].ElementCount, op);
        }
    }

    /// <summary>LayerNorm and RMSNorm: x, outputGrad and inputGrad (N, C) float32 of one shape; a float weight and an F32 weightGrad of C.</summary>
    private static void Norm(string op, Tensor x, Tensor weight, Tensor outputGrad, Tensor inputGrad, Tensor weightGrad)
    {
        ShapeChecks.Type(x, DType.F32, op);
        ShapeChecks.Type(outputGrad, DType.F32, op);
        ShapeChecks.Type(inputGrad, DType.F32, op);
        ShapeChecks.Type(weightGrad, DType.F32, op);
        ShapeChecks.Float(weight, op);
        ShapeChecks.SameShape(x, outputGrad, op);
        ShapeChecks.SameShape(x, inputGrad, op);
        ShapeChecks.Elements(weight, x.Shape[-1], op);
        ShapeChecks.Elements(weightGrad, x.Shape[-1], op);
    }

    public static void Attention(IBackend backend, Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength,
        Tensor output, Tensor outputGrad, Tensor qGrad, Tensor keyGrad, Tensor valueGrad)
    {
        const string op = nameof(IBackwardOps.AttentionBackward);
        foreach (var t in (ReadOnlySpan<Tensor>)[q, keyCache, valueCache, keyMask, output, outputGrad, qGrad, keyGrad, valueGrad])
            ShapeChecks.Owned(backend, t, op);
        foreach (var t in (ReadOnlySpan<Tensor>)[q, keyCache, valueCache, output, outputGrad, qGrad, keyGrad, valueGrad])
        {
            ShapeChecks.Rank(t, 4, op);
            ShapeChecks.Type(t, DType.F32, op);
        }
        ShapeChecks.SameShape(q, output, op);
        ShapeChecks.SameShape(q, outputGrad, op);
        ShapeChecks.SameShape(q, qGrad, op);
        ShapeChecks.SameShape(keyCache, valueCache, op);
        ShapeChecks.SameShape(keyCache, keyGrad, op);
        ShapeChecks.SameShape(keyCache, valueGrad, op);
        ShapeChecks.Type(keyMask, DType.I32, op);
        int batch = q.Shape[0], length = q.Shape[1], heads = q.Shape[2], headDim = q.Shape[3];
        int capacity = keyCache.Shape[1], kvHeads = keyCache.Shape[2];
        ShapeChecks.Dim(keyCache, 0, batch, op);
        ShapeChecks.Dim(keyCache, 3, headDim, op);
        ShapeChecks.Elements(keyMask, (long)batch * capacity, op);
        if (kvHeads == 0 || heads % kvHeads != 0)
            throw new ArgumentException($"{op}: the {heads} heads of '{q.Name}' are not a multiple of the {kvHeads} heads of '{keyCache.Name}'");
        if (pastLength < 0 || pastLength + length > capacity)
            throw new ArgumentException($"{op}: {pastLength} cached + {length} new positions exceed the capacity {capacity} of '{keyCache.Name}'");
    }

    public static void Rope(IBackend backend, Tensor grad, Tensor positions, Tensor invFrequencies)
    {
        const string op = nameof(IBackwardOps.RopeBackward);
        foreach (var t in (ReadOnlySpan<Tensor>)[grad, positions, invFrequencies]) ShapeChecks.Owned(backend, t, op);
        ShapeChecks.Rank(grad, 4, op);
        ShapeChecks.Type(grad, DType.F32, op);
        ShapeChecks.Type(positions, DType.I32, op);
        ShapeChecks.Type(invFrequencies, DType.F32, op);
        ShapeChecks.Elements(positions, (long)grad.Shape[0] * grad.Shape[1], op);
        if (2 * invFrequencies.ElementCount > grad.Shape[3])
            throw new ArgumentException(
                $"{op}: '{invFrequencies.Name}' rotates {2 * invFrequencies.ElementCount} features, more than the head width {grad.Shape[3]} of '{grad.Name}'");
    }
}
