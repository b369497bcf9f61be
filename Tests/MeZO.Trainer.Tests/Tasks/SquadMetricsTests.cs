using MeZO.Trainer.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

/// <summary>Hand-computed cases of the official SQuAD v1.1 evaluation (normalize_answer, f1_score, exact_match_score).</summary>
public class SquadMetricsTests
{
    // Ratios of small integers, computed by hand: any error beyond double rounding is a bug.
    private const double Exact = 1e-12;

    [Test]
    public void ArticleIsDroppedAndRecallIsTwoThirds()
    {
        // "the cat sat" → [cat, sat]; "cat sat on" → [cat, sat, on]: 2 shared, precision 1, recall 2/3, F1 = 2·(2/3)/(5/3) = 0.8.
        Assert.That(SquadMetrics.F1("the cat sat", ["cat sat on"]), Is.EqualTo(0.8).Within(Exact));
        Assert.That(SquadMetrics.ExactMatch("the cat sat", ["cat sat on"]), Is.EqualTo(0.0));
    }

    [Test]
    public void CasePunctuationArticlesAndWhitespaceAreNormalised()
    {
        Assert.That(SquadMetrics.Normalize("  The  Cat's\tU.S.A. -- an (apple)! "), Is.EqualTo("cats usa apple"));
        Assert.That(SquadMetrics.ExactMatch("The Cat!", ["cat"]), Is.EqualTo(1.0));
        Assert.That(SquadMetrics.F1("The Cat!", ["cat"]), Is.EqualTo(1.0).Within(Exact));
    }

    [Test]
    public void ArticlesAreWholeWordsOnly()
    {
        // "another", "theater", "ant" contain an article but are words of their own.
        Assert.That(SquadMetrics.Normalize("another theater ant a"), Is.EqualTo("another theater ant"));
    }

    [Test]
    public void BestGoldAnswerCounts()
    {
        Assert.That(SquadMetrics.ExactMatch("Denver Broncos", ["Broncos", "The Denver Broncos", "Carolina"]), Is.EqualTo(1.0));
        // "Broncos" against "Denver Broncos": precision 1, recall 1/2 → F1 2/3; against "Broncos": 1.
        Assert.That(SquadMetrics.F1("Broncos", ["Denver Broncos"]), Is.EqualTo(2.0 / 3.0).Within(Exact));
        Assert.That(SquadMetrics.F1("Broncos", ["Denver Broncos", "Broncos"]), Is.EqualTo(1.0).Within(Exact));
    }

    [Test]
    public void RepeatedWordsCountOnce()
    {
        // [cat, cat] vs [cat]: the bag intersection is one cat → precision 1/2, recall 1, F1 2/3.
        Assert.That(SquadMetrics.F1("the cat the cat", ["cat"]), Is.EqualTo(2.0 / 3.0).Within(Exact));
    }

    [Test]
    public void NothingLeftAfterNormalisationMatchesExactlyButScoresNoF1()
    {
        // Both normalise to "": equal strings, but f1_score returns 0 when no token is shared.
        Assert.That(SquadMetrics.ExactMatch("a", ["the"]), Is.EqualTo(1.0));
        Assert.That(SquadMetrics.F1("a", ["the"]), Is.EqualTo(0.0));
        Assert.That(SquadMetrics.F1("", ["Paris"]), Is.EqualTo(0.0));
    }

    [Test]
    public void NoGoldAnswerIsAnError() =>
        Assert.Throws<ArgumentException>(() => SquadMetrics.F1("x", []));

    [Test]
    public void AccuracyCountsAcceptedCandidates()
    {
        PromptedExample binary = new("1", "p", ["No", "Yes"], 1, ["Yes"]);
        PromptedExample record = new("2", "p", [" a", " b", " c"], 0, ["a", "c"], [0, 2]);
        Assert.That(Accuracy.Of([binary, record, record], [1, 2, 1]), Is.EqualTo(2.0 / 3.0).Within(Exact));
    }
}
