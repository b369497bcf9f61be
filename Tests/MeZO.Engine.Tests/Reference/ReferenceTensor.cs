namespace MeZO.Engine.Tests.Reference;

/// <summary>
/// One tensor of a reference model: its row-major shape and its values, exactly as stored in the checkpoint (already
/// rounded to the checkpoint's dtype, so float32 holds them exactly).
/// </summary>
public sealed record ReferenceTensor(int[] Shape, float[] Values)
{
    public long ElementCount => Shape.Aggregate(1L, (count, dim) => count * dim);

    public override string ToString() => "(" + string.Join(", ", Shape) + ")";
}
