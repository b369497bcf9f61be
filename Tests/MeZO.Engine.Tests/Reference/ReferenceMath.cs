namespace MeZO.Engine.Tests.Reference;

/// <summary>
/// The activation functions in double precision, written from their definitions. The error function is computed here
/// from its Maclaurin series and its continued fraction — a different method from the engine's rational approximation,
/// so the two cannot share a mistake.
/// </summary>
public static class ReferenceMath
{
    /// <summary>erf(x) to about 1e-14 absolute.</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        double ax = Math.Abs(x);
        double value = ax < 2.5 ? ErfSeries(ax) : 1.0 - ErfcContinuedFraction(ax);
        return x < 0 ? -value : value;
    }

    /// <summary>erfc(x) for x ≥ 2.5, where 1 − erf(x) would cancel.</summary>
    public static double Erfc(double x) => x >= 2.5 ? ErfcContinuedFraction(x) : 1.0 - Erf(x);

    /// <summary>The exact GELU, x·Φ(x) = x/2·(1 + erf(x/√2)) (PyTorch's nn.GELU(), transformers' "gelu").</summary>
    public static double GeluErf(double x) => x < 0
        ? 0.5 * x * Erfc(-x / Math.Sqrt(2.0)) // 1 + erf(x/√2) = erfc(−x/√2), without the cancellation
        : 0.5 * x * (1.0 + Erf(x / Math.Sqrt(2.0)));

    /// <summary>GPT-2's gelu_new: x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
    public static double GeluTanh(double x) => 0.5 * x * (1.0 + Math.Tanh(Math.Sqrt(2.0 / Math.PI) * (x + 0.044715 * x * x * x)));

    public static double Silu(double x) => x / (1.0 + Math.Exp(-x));

    public static double Relu(double x) => x > 0 ? x : 0;

    /// <summary>The activation named by a Hugging Face config (hidden_act, activation_function).</summary>
    public static Func<double, double> Activation(string name) => name switch
    {
        "relu" => Relu,
        "silu" or "swish" => Silu,
        "gelu" => GeluErf,
        "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => GeluTanh,
        _ => throw new NotSupportedException($"activation '{name}' has no reference implementation"),
    };

    /// <summary>erf(x) = 2/√π · Σₙ (−1)ⁿ x^(2n+1) / (n!·(2n+1)); for x &lt; 2.5 the terms stay below 1e3, losing ≤ 3 digits.</summary>
    private static double ErfSeries(double x)
    {
        double sum = 0, power = x; // power = (−1)ⁿ x^(2n+1) / n!
        for (int n = 0; n < 200; n++)
        {
            double term = power / (2 * n + 1);
            sum += term;
            if (Math.Abs(term) < 1e-17 * Math.Abs(sum)) break;
            power *= -x * x / (n + 1);
        }
        return 2.0 / Math.Sqrt(Math.PI) * sum;
    }

    /// <summary>
    /// erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))), evaluated from the tail; for x ≥ 2.5,
    /// 200 levels converge far past double precision.
    /// </summary>
    private static double ErfcContinuedFraction(double x)
    {
        double tail = x;
        for (int k = 200; k >= 1; k--) tail = x + k / 2.0 / tail;
        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / tail;
    }
}
