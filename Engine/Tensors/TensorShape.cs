namespace MeZO.Engine.Tensors;

/// <summary>An immutable row-major shape.</summary>
public sealed class TensorShape : IEquatable<TensorShape>
{
    private readonly int[] _dims;

    public TensorShape(params int[] dims)
    {
        foreach (int d in dims)
            if (d < 0) throw new ArgumentOutOfRangeException(nameof(dims), $"negative dimension in ({string.Join(", ", dims)})");
        _dims = (int[])dims.Clone();
        long rows = 1;
        for (int axis = 0; axis < _dims.Length - 1; axis++) rows = checked(rows * _dims[axis]);
        Rows = rows;
        ElementCount = _dims.Length == 0 ? 1 : checked(rows * _dims[^1]);
    }

    public int Rank => _dims.Length;
    public long ElementCount { get; }
    public int this[int axis] => _dims[axis < 0 ? _dims.Length + axis : axis];
    public ReadOnlySpan<int> Dims => _dims;

    /// <summary>
    /// Product of all dimensions but the last: the number of rows of a row-major matrix view, (3, 0) included (3 rows
    /// of no columns). A scalar or a vector is one row.
    /// </summary>
    public long Rows { get; }

    public bool Equals(TensorShape? other) => other is not null && _dims.AsSpan().SequenceEqual(other._dims);
    public override bool Equals(object? obj) => Equals(obj as TensorShape);
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (int d in _dims) hash.Add(d);
        return hash.ToHashCode();
    }

    /// <summary>The dimensions as safetensors headers and checkpoint readers write them.</summary>
    public long[] ToLongArray() => Array.ConvertAll(_dims, d => (long)d);

    public override string ToString() => "(" + string.Join(", ", _dims) + ")";
}
