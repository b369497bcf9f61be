using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Tensors;

namespace MeZO.Verification;

public static partial class BackendParity
{
    /// <summary>
    /// Linear with an epilogue (LinearEpilogue): the activation, and the residual add, that the forward pass hands to a
    /// product. The reference runs them as separate ops; a candidate that fuses them keeps its intermediates in float32.
    /// </summary>
    private static IEnumerable<ParityCase> EpilogueCases(MatmulPrecision precision)
    {
        var cases = new (int M, int K, int N, DType Weight, DType Activations, ActivationKind? Activation, bool Residual)[]
        {
            (17, 129, 65, DType.F32, DType.F32, ActivationKind.Relu, false),
            (3, 64, 96, DType.BF16, DType.F32, ActivationKind.GeluTanh, false),
            (5, 33, 17, DType.F16, DType.F32, ActivationKind.GeluErf, false),
            (9, 48, 40, DType.BF16, DType.F32, ActivationKind.Silu, false),
            (129, 40, 24, DType.BF16, DType.F32, null, true),
            (7, 100, 30, DType.F32, DType.F32, ActivationKind.Relu, true),
            // 16-bit activations: the ReLU and the residual add fused on cuBLASLt, the others after it.
            (33, 72, 48, DType.BF16, DType.BF16, ActivationKind.Relu, false),
            (17, 64, 40, DType.BF16, DType.BF16, null, true),
            (5, 48, 24, DType.F16, DType.F16, ActivationKind.GeluTanh, false),
            (9, 40, 56, DType.F16, DType.F16, null, true),
        };
        foreach (var (m, k, n, weightType, activations, activation, residual) in cases)
        {
            string name = $"({m}, {k})·({n}, {k})ᵀ {weightType} + bias{(activation is { } a ? $", then {a}" : "")}{(residual ? ", added into a residual" : "")}" +
                          (activations == DType.F32 ? "" : $", {activations} activations");
            yield return new ParityCase("Linear", name, (reference, candidate) =>
            {
                var random = new ParityRandom(m * 7 + k * 5 + n);
                using var x = TensorPair.Floats(reference, candidate, random.Normal((long)m * k, 1), activations, "x", m, k);
                using var weight = TensorPair.Floats(reference, candidate, random.Normal((long)n * k, 0.1), weightType, "weight", n, k);
                using var bias = TensorPair.Floats(reference, candidate, random.Normal(n), DType.F32, "bias", n);
                using var output = TensorPair.Floats(reference, candidate, new float[m * n], activations, "output", m, n);
                using var sum = TensorPair.Floats(reference, candidate, random.Normal((long)m * n, 2), activations, "residual", m, n);
                float[] stream = HostValues.Read(sum.Reference);
                foreach (var b in new[] { reference, candidate })
                    b.Linear(x.On(b), weight.On(b), false, bias.On(b), output.On(b), new LinearEpilogue(activation, residual ? sum.On(b) : null));

                var xs = HostValues.Read(x.Reference);
                var ws = HostValues.Read(weight.Reference);
                var bs = HostValues.Read(bias.Reference);
                double inputRounding = LinearInputRounding(precision, weightType);
                var result = residual ? sum : output;
                var expected = HostValues.Read(result.Reference);
                return Compare("Linear", name, expected, HostValues.Read(result.Candidate), i =>
                {
                    int row = i / n, column = i % n;
                    double magnitude = Magnitude(xs, ws, transposed: false, row, column, k, n);
                    // The product's own bound (LinearCases), carried through an activation whose slope is at most 1.13
                    // (GELU's maximum; ReLU's and SiLU's are below), then the residual add's rounding of the sum.
                    double product = (inputRounding + 2.0 * k * F32Unit) * magnitude + 2 * F32Unit * Math.Abs(bs[column]);
                    double bound = 1.13 * product + (residual ? 2 * F32Unit * (Math.Abs(stream[i]) + magnitude + Math.Abs(bs[column])) : 0);
                    // 16-bit outputs: the two sides' float32 differences can flip the final rounding (one ulp), and a
                    // fused epilogue skips the reference's rounding of the product before the ReLU or the add (one more).
                    if (activations != DType.F32)
                        bound += Ulp(activations, Math.Abs(expected[i])) + Ulp(activations, magnitude + Math.Abs(bs[column]));
                    return bound + 1e-30;
                });
            });
        }
    }
}
