using MeZO.Engine.Backends;
using MeZO.Engine.Tensors;

namespace MeZO.Verification;

/// <summary>
/// The optimizer ops (<see cref="IOptimizerOps"/>) and the backward's <see cref="IBackwardOps.Zero"/>, each against the
/// CPU backend's. An update is the same chain of float32 roundings on both (no fused multiply-add), so weights,
/// masters and moments must match bit for bit, over lengths that are not multiples of a vector or a block. The squared
/// norm is summed in another order on each backend: its tolerance is the float32 rounding of the CPU's partial sums.
/// </summary>
public static partial class BackendParity
{
    private static IOptimizerOps Optimizer(IBackend backend) =>
        backend as IOptimizerOps ?? throw new NotSupportedException($"the {backend.Name} backend has no optimizer ops");

    private static IEnumerable<ParityCase> OptimizerCases()
    {
        foreach (int n in new[] { 1, 37, 4099 })
            yield return new ParityCase("Zero", $"{n} values", (reference, candidate) =>
            {
                using var t = RandomFloats(reference, candidate, new ParityRandom(n), "grad", n);
                foreach (var b in new[] { reference, candidate }) Backward(b).Zero(t.On(b));
                return Exact("Zero", $"{n} values", HostValues.Read(t.Reference), HostValues.Read(t.Candidate));
            });

        foreach (int n in new[] { 1, 17, 40_000 })
            yield return new ParityCase("SumOfSquares", $"{n} values", (reference, candidate) =>
            {
                using var t = RandomFloats(reference, candidate, new ParityRandom(n + 1), "grad", n);
                double expected = Optimizer(reference).SumOfSquares(t.Reference), actual = Optimizer(candidate).SumOfSquares(t.Candidate);
                // The CPU sums float32 squares in blocks: its error is at most a few float32 units of the sum per block term.
                return Compare("SumOfSquares", $"{n} values", [(float)expected], [(float)actual], _ => 8 * F32Unit * expected);
            });

        yield return new ParityCase("SumOfSquares", "a NaN makes the sum NaN", (reference, candidate) =>
        {
            var values = new ParityRandom(3).Normal(5000);
            values[4321] = float.NaN;
            using var t = TensorPair.Floats(reference, candidate, values, DType.F32, "grad", values.Length);
            return Compare("SumOfSquares", "a NaN", [(float)Optimizer(reference).SumOfSquares(t.Reference)],
                [(float)Optimizer(candidate).SumOfSquares(t.Candidate)], _ => 0);
        });

        foreach (var type in new[] { DType.BF16, DType.F16 })
            yield return new ParityCase("WidenToMaster", $"{type}, 1029 values", (reference, candidate) =>
            {
                using var weight = TensorPair.Floats(reference, candidate, new ParityRandom(11).Normal(1029), type, "weight", 1029);
                using var master = TensorPair.Floats(reference, candidate, new float[1029], DType.F32, "master", 1029);
                foreach (var b in new[] { reference, candidate }) Optimizer(b).WidenToMaster(weight.On(b), master.On(b));
                return Exact("WidenToMaster", $"{type}", HostValues.Read(weight.Reference), HostValues.Read(master.Candidate));
            });

        yield return new ParityCase("Scale", "4099 values by 0.37", (reference, candidate) =>
        {
            using var t = RandomFloats(reference, candidate, new ParityRandom(5), "grad", 4099);
            foreach (var b in new[] { reference, candidate }) Optimizer(b).Scale(t.On(b), 0.37f);
            return Exact("Scale", "4099 values", HostValues.Read(t.Reference), HostValues.Read(t.Candidate));
        });

        foreach (var type in new[] { DType.F32, DType.BF16, DType.F16 })
            foreach (bool adam in new[] { false, true })
            {
                string operation = adam ? "AdamWUpdate" : "SgdUpdate", name = $"{type} weight, 3 steps of 1029 values";
                yield return new ParityCase(operation, name, (reference, candidate) => Update(reference, candidate, operation, name, type, adam));
            }
    }

    /// <summary>Three steps with decay on both backends; the weight, its master and the moments compared bit for bit.</summary>
    private static ParityResult Update(IBackend reference, IBackend candidate, string operation, string name, DType type, bool adam)
    {
        const int n = 1029;
        var random = new ParityRandom(n + (int)type * 7 + (adam ? 1 : 0));
        float[] theta = random.Normal(n);
        using var weight = TensorPair.Floats(reference, candidate, theta, type, "weight", n);
        using var master = type == DType.F32 ? null : TensorPair.Floats(reference, candidate, HostValues.Read(weight.Reference), DType.F32, "master", n);
        using var m = TensorPair.Floats(reference, candidate, new float[n], DType.F32, "exp_avg", n);
        using var v = TensorPair.Floats(reference, candidate, new float[n], DType.F32, "exp_avg_sq", n);
        for (int t = 1; t <= 3; t++)
        {
            using var grad = RandomFloats(reference, candidate, random, "grad", n);
            foreach (var b in new[] { reference, candidate })
            {
                if (adam)
                    Optimizer(b).AdamWUpdate(weight.On(b), master?.On(b), grad.On(b), m.On(b), v.On(b), AdamWFactors.For(1e-2, 0.9, 0.999, 1e-8, 0.1, t));
                else
                    Optimizer(b).SgdUpdate(weight.On(b), master?.On(b), grad.On(b), 1e-2f, 0.1f);
            }
        }
        var parts = new List<Func<ParityResult>> { () => Exact(operation, name + ": weight", HostValues.Read(weight.Reference), HostValues.Read(weight.Candidate)) };
        if (master is not null) parts.Add(() => Exact(operation, name + ": master", HostValues.Read(master.Reference), HostValues.Read(master.Candidate)));
        if (adam)
        {
            parts.Add(() => Exact(operation, name + ": exp_avg", HostValues.Read(m.Reference), HostValues.Read(m.Candidate)));
            parts.Add(() => Exact(operation, name + ": exp_avg_sq", HostValues.Read(v.Reference), HostValues.Read(v.Candidate)));
        }
        return AllOf(name, parts);
    }
}
