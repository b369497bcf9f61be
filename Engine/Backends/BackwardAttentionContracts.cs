using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends;

/// <summary>
/// What <see cref="IBackwardOps.AttentionBackward"/> and <see cref="IBackwardOps.RopeBackward"/> require of their
/// arguments, written once for every backend (as <see cref="OpContracts"/> does for the forward ops): the forward op's
/// shapes, and gradients float32 of the shape of what they are the gradient of. Errors name the tensor.
/// </summary>
internal static class BackwardAttentionContracts
{
    public static void AttentionBackward(IBackend backend, Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength,
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

    public static void RopeBackward(IBackend backend, Tensor grad, Tensor positions, Tensor invFrequencies)
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
