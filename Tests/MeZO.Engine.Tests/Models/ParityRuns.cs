using MeZO.Engine.Models.Generation;
using MeZO.Engine.Models;
using NUnit.Framework;
using MeZO.Engine.Tests.Reference;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// One batch through the engine and through the oracle (<see cref="NaiveTransformer"/>) on exactly the same ids and
/// attention mask, and the comparison of the two with a tolerance that scales with the logits.
/// </summary>
internal static class ParityRuns
{
    /// <summary>
    /// The engine computes in float32 (unit roundoff 2⁻²⁴ ≈ 6e-8) through a few layers of dot products of ≤ 256
    /// terms, the oracle in double. On the tiny checkpoints the largest error measured is 6.1e-7 of the largest |logit|
    /// (3e-7 typical); 1e-5 of it leaves a margin of 16× for other summation orders (a blocked matrix product) and
    /// deeper models, and is still far below what a wrong op does (the weights keep logits spread over a few units, so
    /// a mistake changes them by order one).
    /// </summary>
    public const double RelativeTolerance = 1e-5;

    /// <summary>The absolute tolerance for logits (and log-probabilities, whose error is that of the logits) of magnitude up to <paramref name="scale"/>.</summary>
    public static double Tolerance(double scale) => RelativeTolerance * Math.Max(1.0, scale);

    /// <summary>Reproducible random token ids, one sequence per length.</summary>
    public static int[][] RandomSequences(int vocabSize, int seed, params int[] lengths)
    {
        var random = new Random(seed);
        return lengths.Select(n => Enumerable.Range(0, n).Select(_ => random.Next(vocabSize)).ToArray()).ToArray();
    }

    /// <summary>The oracle's logits (B, T, V) for the batch's ids and mask.</summary>
    public static double[,,] OracleLogits(NaiveTransformer oracle, TokenBatch batch)
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

    /// <summary>Every real token's flat row, sequence by sequence.</summary>
    public static int[] RealRows(TokenBatch batch) =>
        Enumerable.Range(0, batch.BatchSize).SelectMany(b => Enumerable.Range(0, batch.Lengths[b]).Select(i => batch.Row(b, i))).ToArray();

    /// <summary>The engine's logits (rows × V) at <paramref name="rows"/>.</summary>
    public static float[] EngineLogits(Transformer model, TokenBatch batch, int[] rows)
    {
        using var ws = model.CreateWorkspace(batch.BatchSize, batch.Length);
        var logits = new float[rows.Length * model.Spec.VocabSize];
        model.LogitsAt(ws, batch, rows, logits);
        return logits;
    }

    /// <summary>The engine's log p(targets[i] | row i).</summary>
    public static float[] EngineScores(Transformer model, TokenBatch batch, int[] rows, int[] targets)
    {
        using var ws = model.CreateWorkspace(batch.BatchSize, batch.Length);
        var logProbs = new float[rows.Length];
        model.ScoreTokens(ws, batch, rows, targets, logProbs);
        return logProbs;
    }

    /// <summary>Largest |logit| over the batch's real positions: the scale the tolerance is relative to.</summary>
    public static double LogitScale(double[,,] logits, TokenBatch batch)
    {
        double scale = 0;
        foreach (int row in RealRows(batch))
            for (int v = 0; v < logits.GetLength(2); v++)
                scale = Math.Max(scale, Math.Abs(logits[row / batch.Length, row % batch.Length, v]));
        return scale;
    }

    /// <summary>
    /// The engine's batched greedy generation (left-padded, with the KV cache) against the oracle's uncached greedy
    /// decoding, prompt by prompt. A near-tie, where float32 may legitimately choose the other token, fails the fixture
    /// and says so: change its prompts.
    /// </summary>
    public static void AssertGreedyMatchesOracle(Transformer model, NaiveTransformer oracle, int[][] prompts, int newTokens, string label)
    {
        var generated = new TokenGenerator(model).Generate(prompts, newTokens, endOfSequence: null);
        for (int p = 0; p < prompts.Length; p++)
        {
            int[] expected = NaiveGreedy(oracle, prompts[p], newTokens, out double margin);
            Assert.That(margin, Is.GreaterThan(RelativeTolerance), $"{label}: prompt {p} has a near-tie, choose another");
            Assert.That(generated[p], Is.EqualTo(expected), $"{label}: prompt {p} (length {prompts[p].Length})");
        }
    }

    /// <summary>
    /// Greedy decoding with the oracle, one sequence, no cache: the whole sequence is run again for every new token.
    /// <paramref name="smallestMargin"/> is the smallest gap between the best and second-best logit over the steps,
    /// relative to the row's largest |logit| (as <see cref="Tolerance"/>): where it is below the engine's relative
    /// tolerance, float32 may legitimately pick the other token and the comparison would prove nothing.
    /// </summary>
    public static int[] NaiveGreedy(NaiveTransformer oracle, IReadOnlyList<int> prompt, int newTokens, out double smallestMargin)
    {
        var ids = prompt.ToList();
        var generated = new List<int>();
        smallestMargin = double.PositiveInfinity;
        for (int step = 0; step < newTokens; step++)
        {
            var input = new int[1, ids.Count];
            for (int t = 0; t < ids.Count; t++) input[0, t] = ids[t];
            double[,,] logits = oracle.Forward(input);
            int last = ids.Count - 1, best = 0;
            double bestValue = double.NegativeInfinity, second = double.NegativeInfinity, rowScale = 0;
            for (int v = 0; v < logits.GetLength(2); v++)
            {
                double value = logits[0, last, v];
                rowScale = Math.Max(rowScale, Math.Abs(value));
                if (value > bestValue)
                {
                    second = bestValue;
                    bestValue = value;
                    best = v;
                }
                else if (value > second) second = value;
            }
            smallestMargin = Math.Min(smallestMargin, (bestValue - second) / Math.Max(1.0, rowScale));
            generated.Add(best);
            ids.Add(best);
        }
        return generated.ToArray();
    }
}
