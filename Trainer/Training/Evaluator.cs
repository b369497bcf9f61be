using MeZO.Engine.Models.Generation;
using MeZO.Engine.Distributed;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Tokenization;
using MeZO.Trainer.Tasks;

namespace MeZO.Trainer.Training;

/// <summary>
/// A split's score: accuracy for classification and multiple choice, F1 (with exact match) for generation, the mean
/// log-likelihood per token for language modelling (with its perplexity). Every metric is higher-is-better, which
/// the choice of the best validation step relies on: that is why language modelling reports the log-likelihood, not
/// the perplexity.
/// </summary>
public sealed record EvalResult(string Metric, double Value, double? ExactMatch, int Examples)
{
    public const string LogLikelihood = "log-likelihood";

    /// <summary>exp(−mean log-likelihood per token), for language modelling; null for the other metrics.</summary>
    public double? Perplexity => Metric == LogLikelihood ? Math.Exp(-Value) : null;

    public override string ToString() =>
        ExactMatch is double em ? $"{Metric} {Value:F4} (exact match {em:F4}, {Examples} examples)"
        : Perplexity is double perplexity ? $"{Metric} {Value:F4} per token (perplexity {perplexity:F4}, {Examples} examples)"
        : $"{Metric} {Value:F4} ({Examples} examples)";
}

/// <summary>Scores examples as MeZO evaluates them: the candidate with the highest mean log-probability, or the greedy
/// answer; texts by their tokens' log-likelihood.</summary>
public sealed class Evaluator(Transformer model, ModelTokenizer tokenizer, TaskEncoder encoder, CandidateScorer scorer)
{
    /// <summary>The name of the metric <see cref="Evaluate"/> reports for this task.</summary>
    public string Metric => encoder.Task.Kind switch
    {
        TaskKind.Generation => "f1",
        TaskKind.LanguageModeling => EvalResult.LogLikelihood,
        _ => "accuracy",
    };

    /// <param name="progress">told (examples done, examples in all) after each chunk of <paramref name="batchSize"/></param>
    public EvalResult Evaluate(IReadOnlyList<EncodedExample> examples, int batchSize, Action<long, long>? progress = null)
    {
        int done = 0;
        void Done(int count) => progress?.Invoke(done += count, examples.Count);
        if (encoder.Task.Kind == TaskKind.LanguageModeling)
        {
            // Per token over the whole split, as perplexity is defined on a corpus: a long text weighs more than a short one.
            double logLikelihood = 0;
            long tokens = 0;
            foreach (var chunk in examples.Chunk(batchSize))
            {
                int scored = chunk.Sum(e => e.Candidates[0].ScoredTokens);
                logLikelihood -= scorer.TeacherForcedLoss(chunk) * scored;
                tokens += scored;
                Done(chunk.Length);
            }
            if (!double.IsFinite(logLikelihood))
                throw new NonFiniteForwardException(model.Directory, "the texts' log-likelihood");
            return new EvalResult(Metric, logLikelihood / tokens, null, examples.Count);
        }
        if (encoder.Task.Kind == TaskKind.Generation)
        {
            double f1 = 0, em = 0;
            foreach (var chunk in examples.Chunk(batchSize))
            {
                var answers = GenerateAnswers(chunk);
                for (int i = 0; i < chunk.Length; i++)
                {
                    f1 += SquadMetrics.F1(answers[i], chunk[i].Example.GoldAnswers);
                    em += SquadMetrics.ExactMatch(answers[i], chunk[i].Example.GoldAnswers);
                }
                Done(chunk.Length);
            }
            return new EvalResult(Metric, f1 / examples.Count, em / examples.Count, examples.Count);
        }
        int correct = 0;
        foreach (var chunk in examples.Chunk(batchSize))
        {
            var predictions = Predict(chunk);
            for (int i = 0; i < chunk.Length; i++)
                if (chunk[i].Example.IsCorrect(predictions[i])) correct++;
            Done(chunk.Length);
        }
        return new EvalResult(Metric, correct / (double)examples.Count, null, examples.Count);
    }

    /// <summary>The predicted candidate of each example: the highest mean log-probability (lowest index on ties).</summary>
    /// <exception cref="NonFiniteForwardException">a candidate's score is NaN or ±∞: no prediction is made from a broken pass.</exception>
    public int[] Predict(IReadOnlyList<EncodedExample> examples)
    {
        var scores = scorer.Scores(examples);
        if (scores.Any(s => s.Any(v => !double.IsFinite(v))))
            throw new NonFiniteForwardException(model.Directory, "candidates' log-probabilities");
        return Best(scores);
    }

    /// <summary>Each example's candidate with the highest score, the lowest index on ties.</summary>
    public static int[] Best(double[][] scores) => scores.Select(s => Array.IndexOf(s, s.Max())).ToArray();

    /// <summary>
    /// Greedy answers: at most 50 new tokens, ending at the newline token or end-of-sequence; decoded and stripped.
    /// Under a <paramref name="perturbation"/>, the model generates with θ + scale·z. In a data-parallel job each rank
    /// generates its share and the answers are gathered; the token budget is set by the longest input of all, so an
    /// answer does not depend on which rank made it.
    /// </summary>
    /// <param name="ranks">the ranks that share the examples: the scorer's unless given</param>
    public string[] GenerateAnswers(IReadOnlyList<EncodedExample> examples, WeightPerturbation? perturbation = null, ICommunicator? ranks = null)
    {
        ranks ??= scorer.Ranks;
        var inputs = examples.Select(e => e.GenerationInput?.Ids
            ?? throw new InvalidOperationException($"example {e.Example.Id} has no generation input")).ToArray();
        int budget = Math.Min(TaskEncoder.MaxNewTokens, encoder.MaxLength - inputs.Max(i => i.Count));
        int? eos = model.Spec.EosTokenId, newline = encoder.NewlineToken;
        var (first, share) = ranks.ShareOf(inputs.Length);
        var answers = share == 0 ? [] : new TokenGenerator(model).Generate(inputs[first..(first + share)], Math.Max(1, budget), eos,
                tokens => newline is int nl && tokens[^1] == nl, perturbation)
            .Select(ids => tokenizer.Decode(ids.Where(id => id != eos).ToArray()).Trim()).ToArray();
        return ranks.AllGatherConcatenated(answers);
    }
}
