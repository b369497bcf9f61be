using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends;

/// <summary>Argument checks shared by every backend, so a bad shape fails at the op boundary with the tensor's name.</summary>
internal static class ShapeChecks
{
    public static void Rank(Tensor t, int rank, string op)
    {
        if (t.Shape.Rank != rank)
            throw new ArgumentException($"{op}: '{t.Name}' must have rank {rank}, has shape {t.Shape}");
    }

    public static void Type(Tensor t, DType type, string op)
    {
        if (t.DType != type)
            throw new ArgumentException($"{op}: '{t.Name}' must be {type}, is {t.DType}");
    }

    public static void Float(Tensor t, string op)
    {
        if (!t.DType.IsFloatingPoint())
            throw new ArgumentException($"{op}: '{t.Name}' must be a floating-point tensor, is {t.DType}");
    }

    /// <summary>
    /// Activations: F32, BF16 or F16, every tensor of the op in the first one's dtype (<see cref="IBackend"/> says how a
    /// 16-bit activation is read and rounded).
    /// </summary>
    public static void Activations(string op, params ReadOnlySpan<Tensor> tensors)
    {
        foreach (var t in tensors)
        {
            Float(t, op);
            if (t.DType != tensors[0].DType)
                throw new ArgumentException($"{op}: '{t.Name}' is {t.DType} but '{tensors[0].Name}' is {tensors[0].DType}: one op's activations share a dtype");
        }
    }

    public static void Dim(Tensor t, int axis, long expected, string op)
    {
        if (t.Shape[axis] != expected)
            throw new ArgumentException($"{op}: '{t.Name}' {t.Shape} must have {expected} along axis {axis}");
    }

    public static void SameShape(Tensor a, Tensor b, string op)
    {
        if (!a.Shape.Equals(b.Shape))
            throw new ArgumentException($"{op}: '{a.Name}' {a.Shape} and '{b.Name}' {b.Shape} must have the same shape");
    }

    public static void Elements(Tensor t, long expected, string op)
    {
        if (t.ElementCount != expected)
            throw new ArgumentException($"{op}: '{t.Name}' {t.Shape} must hold {expected} elements");
    }

    /// <summary>Each tensor belongs to <paramref name="backend"/>.</summary>
    public static void Owned(IBackend backend, string op, params ReadOnlySpan<Tensor> tensors)
    {
        foreach (var t in tensors) Owned(backend, t, op);
    }

    public static void Owned(IBackend backend, Tensor t, string op)
    {
        if (!ReferenceEquals(t.Backend, backend))
            throw new ArgumentException($"{op}: '{t.Name}' belongs to the {t.Backend.Name} backend, not {backend.Name}");
    }
}
