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
        ShapeChecks.Owned(backend, op, outputGrad, ids, tableGrad);
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
        ShapeChecks.Owned(backend, op, x, weight, outputGrad, inputGrad, weightGrad);
        Norm(op, x, weight, outputGrad, inputGrad, weightGrad);
        if (biasGrad is not null)
        {
            ShapeChecks.Owned(backend, op, biasGrad);
            ShapeChecks.Type(biasGrad, DType.F32, op);
            ShapeChecks.Elements(biasGrad, x.Shape[-1], op);
        }
    }

    public static void RmsNorm(IBackend backend, Tensor x, Tensor weight, Tensor outputGrad, Tensor inputGrad, Tensor weightGrad)
    {
        const string op = nameof(IBackwardOps.RmsNormBackward);
        ShapeChecks.Owned(backend, op, x, weight, outputGrad, inputGrad, weightGrad);
        Norm(op, x, weight, outputGrad, inputGrad, weightGrad);
    }

    public static void Linear(IBackend backend, Tensor x, Tensor weight, bool weightTransposed, Tensor outputGrad, Tensor? inputGrad,
        Tensor? weightGrad, Tensor? biasGrad)
    {
        const string op = nameof(IBackwardOps.LinearBackward);
        int n = OpContracts.Product(backend, op, x, weight, weightTransposed, outputGrad);
        ShapeChecks.Type(x, DType.F32, op); // backprop runs in float32 activations (Gradients refuses 16-bit compute)
        if (inputGrad is not null)
        {
            ShapeChecks.Owned(backend, op, inputGrad);
            ShapeChecks.Type(inputGrad, DType.F32, op);
            ShapeChecks.SameShape(x, inputGrad, op);
        }
        if (weightGrad is not null)
        {
            ShapeChecks.Owned(backend, op, weightGrad);
            ShapeChecks.Type(weightGrad, DType.F32, op);
            ShapeChecks.SameShape(weight, weightGrad, op);
        }
        if (biasGrad is not null)
        {
            ShapeChecks.Owned(backend, op, biasGrad);
            ShapeChecks.Type(biasGrad, DType.F32, op);
            ShapeChecks.Elements(biasGrad, n, op);
        }
    }

    public static void Activation(IBackend backend, Tensor input, Tensor grad)
    {
        const string op = nameof(IBackwardOps.ActivationBackward);
        ShapeChecks.Owned(backend, op, input, grad);
        SameFloat32(op, input, grad);
    }

    public static void SiluMul(IBackend backend, Tensor gate, Tensor up, Tensor outputGrad, Tensor gateGrad, Tensor upGrad)
    {
        const string op = nameof(IBackwardOps.SiluMulBackward);
        ShapeChecks.Owned(backend, op, gate, up, outputGrad, gateGrad, upGrad);
        SameFloat32(op, gate, up, outputGrad, gateGrad, upGrad);
    }

    public static void LogSoftmaxGather(IBackend backend, Tensor logits, Tensor targets, Tensor outputGrad, Tensor logitsGrad)
    {
        const string op = nameof(IBackwardOps.LogSoftmaxGatherBackward);
        ShapeChecks.Owned(backend, op, logits, targets, outputGrad, logitsGrad);
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
        OpContracts.ColumnSlice(backend, nameof(IBackwardOps.SliceColumnsBackward), inputGrad, start, outputGrad);
        ShapeChecks.Type(inputGrad, DType.F32, nameof(IBackwardOps.SliceColumnsBackward));
        ShapeChecks.Type(outputGrad, DType.F32, nameof(IBackwardOps.SliceColumnsBackward));
    }

    public static void GatherRows(IBackend backend, Tensor outputGrad, Tensor rows, Tensor inputGrad)
    {
        OpContracts.RowGather(backend, nameof(IBackwardOps.GatherRowsBackward), inputGrad, rows, outputGrad);
        ShapeChecks.Type(inputGrad, DType.F32, nameof(IBackwardOps.GatherRowsBackward));
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
        OpContracts.AttentionShapes(backend, op, q, keyCache, valueCache, keyMask, pastLength, output);
        ShapeChecks.Owned(backend, op, outputGrad, qGrad, keyGrad, valueGrad);
        foreach (var t in (ReadOnlySpan<Tensor>)[q, outputGrad, qGrad, keyGrad, valueGrad]) ShapeChecks.Type(t, DType.F32, op);
        ShapeChecks.SameShape(q, outputGrad, op);
        ShapeChecks.SameShape(q, qGrad, op);
        ShapeChecks.SameShape(keyCache, keyGrad, op);
        ShapeChecks.SameShape(keyCache, valueGrad, op);
    }

    public static void Rope(IBackend backend, Tensor grad, Tensor positions, Tensor invFrequencies)
    {
        OpContracts.Rotation(backend, nameof(IBackwardOps.RopeBackward), grad, positions, invFrequencies);
        ShapeChecks.Type(grad, DType.F32, nameof(IBackwardOps.RopeBackward));
    }
}
