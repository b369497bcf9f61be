using MeZO.Engine.Models.Generation;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models.Generation;

/// <summary>
/// <see cref="TokenSampler"/> against the distribution transformers' sampling defines, computed here directly: softmax
/// of logits / T over the top-k tokens, cut to the smallest set whose probability reaches top-p. Frequencies over many
/// draws must match it within five standard errors, and tokens outside the kept set must never be drawn.
/// </summary>
[TestFixture]
public sealed class TokenSamplerTests
{
    private static readonly float[] Logits = [2.0f, -1.0f, 0.5f, 1.5f, 0.0f, -3.0f, 1.0f, 0.25f];
    private const int Draws = 40_000;

    [TestCase(1.0, 0, 1.0)]
    [TestCase(0.7, 0, 1.0)]
    [TestCase(1.3, 3, 1.0)]
    [TestCase(1.0, 0, 0.8)]
    [TestCase(0.9, 5, 0.6)]
    public void FrequenciesFollowTheTemperedTruncatedSoftmax(double temperature, int topK, double topP)
    {
        double[] expected = Expected(Logits, temperature, topK, topP);
        var sampler = new TokenSampler(new SamplingSettings(temperature, topK, topP, Seed: 12345));
        var counts = new int[Logits.Length];
        for (int d = 0; d < Draws; d++) counts[sampler.Pick(Logits, sequence: d % 7, step: d / 7)]++;
        for (int v = 0; v < Logits.Length; v++)
        {
            double frequency = counts[v] / (double)Draws;
            if (expected[v] == 0)
            {
                Assert.That(counts[v], Is.Zero, $"token {v} is outside the kept set");
                continue;
            }
            double standardError = Math.Sqrt(expected[v] * (1 - expected[v]) / Draws);
            Assert.That(frequency, Is.EqualTo(expected[v]).Within(5 * standardError), $"token {v}");
        }
    }

    [Test]
    public void GreedySettingsTakeTheMostLikelyToken()
    {
        Assert.That(new TokenSampler(SamplingSettings.Greedy).Pick(Logits, 0, 0), Is.EqualTo(0));
        Assert.That(new TokenSampler(new SamplingSettings(Temperature: 5, TopK: 1, Seed: 9)).Pick(Logits, 3, 4), Is.EqualTo(0));
    }

    [Test]
    public void ADrawDependsOnTheSeedSequenceAndStepAlone()
    {
        var a = new TokenSampler(new SamplingSettings(Temperature: 1.5, Seed: 1));
        var b = new TokenSampler(new SamplingSettings(Temperature: 1.5, Seed: 1));
        var other = new TokenSampler(new SamplingSettings(Temperature: 1.5, Seed: 2));
        int[] first = [.. Enumerable.Range(0, 64).Select(s => a.Pick(Logits, 0, s))];
        Assert.That(Enumerable.Range(0, 64).Select(s => b.Pick(Logits, 0, s)), Is.EqualTo(first), "the same seed, the same draws");
        Assert.That(Enumerable.Range(0, 64).Select(s => other.Pick(Logits, 0, s)), Is.Not.EqualTo(first), "another seed, other draws");
        Assert.That(Enumerable.Range(0, 64).Select(s => a.Pick(Logits, 1, s)), Is.Not.EqualTo(first), "another sequence, other draws");
    }

    [Test]
    public void OutOfRangeSettingsAreRefusedByTheirOptionNames()
    {
        Assert.That(() => new SamplingSettings(Temperature: -1).Validate(), Throws.InstanceOf<InvalidInputException>().With.Message.Contains("--temperature"));
        Assert.That(() => new SamplingSettings(TopK: -2).Validate(), Throws.InstanceOf<InvalidInputException>().With.Message.Contains("--top-k"));
        Assert.That(() => new SamplingSettings(TopP: 0).Validate(), Throws.InstanceOf<InvalidInputException>().With.Message.Contains("--top-p"));
        Assert.That(() => new SamplingSettings(TopP: 1.5).Validate(), Throws.InstanceOf<InvalidInputException>().With.Message.Contains("--top-p"));
    }

    /// <summary>The distribution computed directly: softmax(l/T), top-k by value, then the nucleus of mass ≥ top-p.</summary>
    private static double[] Expected(float[] logits, double temperature, int topK, double topP)
    {
        int n = logits.Length;
        var ranked = Enumerable.Range(0, n).OrderByDescending(v => logits[v]).ToArray();
        var keep = new HashSet<int>(topK > 0 ? ranked.Take(topK) : ranked);
        double z = keep.Sum(v => Math.Exp(logits[v] / temperature));
        var p = new double[n];
        foreach (int v in keep) p[v] = Math.Exp(logits[v] / temperature) / z;
        double mass = 0;
        var nucleus = new HashSet<int>();
        foreach (int v in ranked.Where(keep.Contains))
        {
            if (mass >= topP) break;
            nucleus.Add(v);
            mass += p[v];
        }
        double kept = nucleus.Sum(v => p[v]);
        return [.. Enumerable.Range(0, n).Select(v => nucleus.Contains(v) ? p[v] / kept : 0)];
    }
}
