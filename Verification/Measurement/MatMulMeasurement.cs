using MeZO.Engine.Tensors;

namespace MeZO.Verification.Measurement;

/// <summary>
/// One timed linear layer output(M,N) = x(M,K)·Wᵀ + bias, next to the machine's FMA peak measured in the same run.
/// </summary>
/// <param name="Layer">what the shape is in a model, e.g. "OPT-125m fc1"</param>
/// <param name="Milliseconds">fastest of the timed calls</param>
/// <param name="GigaflopsPerSecond">2·M·N·K over the fastest call</param>
/// <param name="PeakGigaflopsPerSecond">all-core FMA peak, highest of the runs alternating with the timed calls</param>
/// <param name="FractionOfPeak">median over the timed calls of the call's GFLOP/s over the peak run just before it</param>
public sealed record MatMulMeasurement(string Layer, int M, int N, int K, DType WeightType, bool WeightTransposed,
    double Milliseconds, double GigaflopsPerSecond, double PeakGigaflopsPerSecond, double FractionOfPeak)
{
    public override string ToString() =>
        $"{Layer,-27} M={M,-4} N={N,-6} K={K,-5} {WeightType,-4}{(WeightTransposed ? " (K,N)" : "")} " +
        $"{Milliseconds,9:F3} ms {GigaflopsPerSecond,7:F1} GFLOP/s " +
        $"{FractionOfPeak,6:P1} of {PeakGigaflopsPerSecond:F0}";
}
