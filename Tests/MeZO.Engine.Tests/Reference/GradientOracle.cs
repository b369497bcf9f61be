using MeZO.Engine.Models;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Reference;

/// <summary>
/// The check every gradient test makes against the oracle (<see cref="NaiveTransformer"/>): along a direction d over
/// the parameters, the engine's ∇L·d must equal the oracle's central difference (L(θ + h·d) − L(θ − h·d))/2h, where L
/// is the summed negative log-likelihood of (row, target) pairs of a batch.
/// </summary>
public static class GradientOracle
{
    /// <summary>
    /// Step along d (elements ~N(0, 1), so each weight moves by about h). The double rounding of the difference is
    /// 2⁻⁵³·|L|/h ≈ 1e-9 for |L| ≈ 100. L changes along d on a scale of about 1/‖d‖ ≈ 1e-2 (P ≈ 10⁴ parameters), so
    /// the truncation error is about (h·‖d‖)² ≈ 1e-6 of the derivative: both far below the tolerance below.
    /// </summary>
    public const double Step = 1e-5;

    /// <summary>
    /// The tolerance relative to Σ|gᵢ·dᵢ|, the size of the terms whose sum ∇L·d is: 16 float32 ulps (2⁻²⁴ each) of it,
    /// as if every element's gradient were 16 ulps off in the same direction. The element errors are in fact spread and
    /// of both signs: the largest measured on these batches is 4.2e-8 of Σ|gᵢdᵢ| (0.7 ulp, 7.6e-6 of ∇L·d itself), a
    /// margin of 20×; the oracle's own error (see <see cref="Step"/>) is below 1e-9 of it. Random directions cancel to
    /// |∇L·d| ≈ Σ|gᵢdᵢ|/√P, so the check is about 1e-4 of the derivative, and dropping any op's contribution (tried:
    /// the tied head's use, one RoPE backward) misses by 1 % to 100 %.
    /// </summary>
    public const double RelativeTolerance = 16.0 / (1 << 24);

    /// <summary>
    /// The reference tensors hold float32, so θ ± h·d are rounded to float32 before the oracle reads them. The test then
    /// differentiates along the direction actually taken, d′ = (θ₊ − θ₋)/2h (exact in double): the central difference
    /// of the two rounded points approximates ∇L·d′ to second order, and the rounding (≈ 2⁻²⁴·|θ|/h ≈ 3e-3 of each step)
    /// never enters the comparison.
    /// </summary>
    public static void AssertDirectionalDerivative(TinyCheckpoint checkpoint, Func<string, float[]> gradientOf, Dictionary<string, double[]> d,
        TokenBatch batch, int[] rows, int[] targets, string label, float[]? pairWeights = null) =>
        AssertDirectionalDerivative(checkpoint.Weights, gradientOf, d, weights => Loss(checkpoint, weights, batch, rows, targets, pairWeights), label);

    /// <summary>
    /// The same check over any parameters (an adapter's): <paramref name="loss"/> is the oracle's L at the parameters
    /// it is given, <paramref name="parameters"/> moved along d.
    /// </summary>
    public static void AssertDirectionalDerivative(IReadOnlyDictionary<string, ReferenceTensor> parameters, Func<string, float[]> gradientOf,
        Dictionary<string, double[]> d, Func<IReadOnlyDictionary<string, ReferenceTensor>, double> loss, string label)
    {
        var plusWeights = Moved(parameters, d, Step);
        var minusWeights = Moved(parameters, d, -Step);
        double dot = 0, scale = 0;
        foreach (string name in d.Keys)
        {
            float[] g = gradientOf(name), up = plusWeights[name].Values, down = minusWeights[name].Values;
            for (int i = 0; i < g.Length; i++)
            {
                double taken = ((double)up[i] - down[i]) / (2 * Step);
                dot += g[i] * taken;
                scale += Math.Abs(g[i] * taken);
            }
        }
        double expected = (loss(plusWeights) - loss(minusWeights)) / (2 * Step);
        Assert.That(scale, Is.GreaterThan(0), $"{label}: the gradient along d is not all zero");
        Assert.That(dot, Is.EqualTo(expected).Within(RelativeTolerance * scale), $"{label}: ∇L·d vs the oracle's central difference (Σ|g·d| = {scale:E3})");
    }

    /// <summary>The oracle's Σ weight·log p(target | row) in double; every weight −1 (the summed NLL) unless given.</summary>
    public static double Loss(TinyCheckpoint checkpoint, IReadOnlyDictionary<string, ReferenceTensor> weights, TokenBatch batch, int[] rows,
        int[] targets, float[]? pairWeights = null) =>
        Loss(new NaiveTransformer(checkpoint.Config, weights), batch, rows, targets, pairWeights);

    /// <summary>The same L from an oracle made (and given its adapters) by the caller.</summary>
    public static double Loss(NaiveTransformer oracle, TokenBatch batch, int[] rows, int[] targets, float[]? pairWeights = null)
    {
        double[,,] logits = OracleLogits(oracle, batch);
        double sum = 0;
        for (int s = 0; s < rows.Length; s++)
            sum += (pairWeights?[s] ?? -1.0) * NaiveTransformer.LogSoftmax(logits, rows[s] / batch.Length, rows[s] % batch.Length)[targets[s]];
        return sum;
    }

    /// <summary>θ + h·d, made in double and rounded once to the float32 the reference tensors hold.</summary>
    private static Dictionary<string, ReferenceTensor> Moved(IReadOnlyDictionary<string, ReferenceTensor> parameters, Dictionary<string, double[]> d,
        double h) =>
        parameters.ToDictionary(p => p.Key, p => new ReferenceTensor(p.Value.Shape,
            p.Value.Values.Select((v, i) => (float)(v + h * d[p.Key][i])).ToArray()));

    public static double[] Normal(Random rng, int count) =>
        Enumerable.Range(0, count).Select(_ => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble())).ToArray();

    /// <summary>The oracle's logits (B, T, V) for the batch's ids and mask (ParityRuns' twin: this file is also compiled into the CLI tests).</summary>
    private static double[,,] OracleLogits(NaiveTransformer oracle, TokenBatch batch)
    {
        var ids = new int[batch.BatchSize, batch.Length];
        var mask = new int[batch.BatchSize, batch.Length];
        for (int b = 0; b < batch.BatchSize; b++)
            for (int t = 0; t < batch.Length; t++)
            {
                ids[b, t] = batch.Ids[b * batch.Length + t];
                mask[b, t] = batch.Mask[b * batch.Length + t];
            }
        return oracle.Forward(ids, mask);
    }
}
