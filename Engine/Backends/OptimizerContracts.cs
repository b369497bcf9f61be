using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends;

/// <summary>Argument checks of <see cref="IOptimizerOps"/>, shared by every backend.</summary>
internal static class OptimizerContracts
{
    public static void Reduction(IBackend backend, Tensor t, string op)
    {
        ShapeChecks.Owned(backend, t, op);
        ShapeChecks.Type(t, DType.F32, op);
    }

    /// <summary>A 16-bit parameter and a float32 master of its shape.</summary>
    public static void Widen(IBackend backend, Tensor parameter, Tensor master)
    {
        const string op = nameof(IOptimizerOps.WidenToMaster);
        ShapeChecks.Owned(backend, op, parameter, master);
        if (parameter.DType is not (DType.F16 or DType.BF16))
            throw new ArgumentException($"{op}: '{parameter.Name}' is {parameter.DType}; only a 16-bit weight has a master copy");
        ShapeChecks.Type(master, DType.F32, op);
        ShapeChecks.SameShape(master, parameter, op);
    }

    /// <summary>
    /// The parameter is float; a 16-bit one comes with its float32 master and a float32 one without (it is its own);
    /// the gradient and any state are float32 of the parameter's shape.
    /// </summary>
    public static void Update(IBackend backend, string op, Tensor parameter, Tensor? master, Tensor grad, params ReadOnlySpan<Tensor> state)
    {
        ShapeChecks.Owned(backend, parameter, op);
        ShapeChecks.Float(parameter, op);
        if (parameter.DType == DType.F32 && master is not null)
            throw new ArgumentException($"{op}: '{parameter.Name}' is float32 and is its own master; '{master.Name}' is not wanted");
        if (parameter.DType != DType.F32 && master is null)
            throw new ArgumentException($"{op}: '{parameter.Name}' is {parameter.DType} and needs a float32 master copy to take the step");
        foreach (var t in (ReadOnlySpan<Tensor?>)[master, grad, .. state])
        {
            if (t is null) continue;
            ShapeChecks.Owned(backend, t, op);
            ShapeChecks.Type(t, DType.F32, op);
            ShapeChecks.SameShape(t, parameter, op);
        }
    }
}
