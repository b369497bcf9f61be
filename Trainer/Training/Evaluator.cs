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

/// <summary>
/// Scores examples as MeZO evaluates them: the candidate with the highest mean log-probability, or the greedy answer;
/// texts by their tokens' log-likelihood. The ranks of a data-parallel job share out the chunks of an evaluation and
/// the groups of a generation; each is the forward call (or generation) one process makes, so the numbers are the same.
/// </summary>
/// <param name="examplesPerCall">examples in one greedy generation (the micro-batch)</param>
public sealed class Evaluator(Transformer model, ModelTokenizer tokenizer, TaskEncoder encoder, CandidateScorer scorer,
    ICommunicator? ranks = null, int examplesPerCall = 16)
{
    private readonly ICommunicator _ranks = ranks ?? SingleProcess.Instance;

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
        var chunks = examples.Chunk(batchSize).ToArray();
        if (encoder.Task.Kind == TaskKind.LanguageModeling)
        {
            // Per token over the whole split, as perplexity is defined on a corpus: a long text weighs more than a short one.
            static int Scored(IEnumerable<EncodedExample> texts) => texts.Sum(e => e.Candidates[0].ScoredTokens);
            double logLikelihood = 0;
            foreach (var (_, values) in PerChunk(chunks, chunk => [scorer.TeacherForcedLoss(chunk) * Scored(chunk)], Done))
                logLikelihood -= values[0];
            long tokens = Scored(examples);
            if (!double.IsFinite(logLikelihood))
                throw new NonFiniteForwardException(model.Directory, "the texts' log-likelihood");
            return new EvalResult(Metric, logLikelihood / tokens, null, examples.Count);
        }
        if (encoder.Task.Kind == TaskKind.Generation)
        {
            double f1 = 0, em = 0;
            var scores = PerChunk(chunks, chunk =>
            {
                var answers = GenerateAnswers(chunk);
                return chunk.SelectMany((e, i) => new[]
                {
                    SquadMetrics.F1(answers[i], e.Example.GoldAnswers), SquadMetrics.ExactMatch(answers[i], e.Example.GoldAnswers),
                }).ToArray();
            }, Done);
            foreach (var (chunk, values) in scores)
                for (int i = 0; i < chunk.Length; i++)
                {
                    f1 += values[2 * i];
                    em += values[2 * i + 1];
                }
            return new EvalResult(Metric, f1 / examples.Count, em / examples.Count, examples.Count);
        }
        int correct = 0;
        foreach (var (chunk, values) in PerChunk(chunks, chunk =>
                 {
                     var predictions = Predict(chunk);
                     return chunk.Select((e, i) => e.Example.IsCorrect(predictions[i]) ? 1.0 : 0.0).ToArray();
                 }, Done))
            correct += (int)values.Sum();
        return new EvalResult(Metric, correct / (double)examples.Count, null, examples.Count);
    }

    /// <summary>
    /// Each chunk with the numbers <paramref name="values"/> makes of it, in chunk order: here, or in rounds of one
    /// chunk per rank, each rank computing its own and the ranks gathering them.
    /// </summary>
    private List<(EncodedExample[] Chunk, double[] Values)> PerChunk(EncodedExample[][] chunks, Func<EncodedExample[], double[]> values,
        Action<int> done)
    {
        var result = new List<(EncodedExample[], double[])>(chunks.Length);
        for (int round = 0; round < chunks.Length; round += _ranks.Size)
        {
            int mine = round + _ranks.Rank;
            var gathered = _ranks.AllGather(mine < chunks.Length ? values(chunks[mine]) : []);
            for (int r = 0; r < _ranks.Size && round + r < chunks.Length; r++)
            {
                result.Add((chunks[round + r], gathered[r]));
                done(chunks[round + r].Length);
            }
        }
        return result;
    }

    /// <summary>The predicted candidate of each example: the highest mean log-probability (lowest index on ties).</summary>
    /// <param name="ranks">the ranks that share the forward calls (each must ask for the same examples); this process alone by default</param>
    /// <exception cref="NonFiniteForwardException">a candidate's score is NaN or ±∞: no prediction is made from a broken pass.</exception>
    public int[] Predict(IReadOnlyList<EncodedExample> examples, ICommunicator? ranks = null)
    {
        var scores = scorer.Scores(examples, ranks);
        if (scores.Any(s => s.Any(v => !double.IsFinite(v))))
            throw new NonFiniteForwardException(model.Directory, "candidates' log-probabilities");
        return Best(scores);
    }

    /// <summary>Each example's candidate with the highest score, the lowest index on ties.</summary>
    public static int[] Best(double[][] scores) => scores.Select(s => Array.IndexOf(s, s.Max())).ToArray();

    /// <summary>
    /// Greedy answers: at most 50 new tokens, ending at the newline token or end-of-sequence; decoded and stripped.
    /// Under a <paramref name="perturbation"/>, the model generates with θ + scale·z. Examples are generated in groups
    /// of the micro-batch, with the token budget the longest input of all leaves; <paramref name="ranks"/> (each asking
    /// for the same examples) share out the groups and gather the answers.
    /// </summary>
    public string[] GenerateAnswers(IReadOnlyList<EncodedExample> examples, WeightPerturbation? perturbation = null, ICommunicator? ranks = null)
    {
        ranks ??= SingleProcess.Instance;
        var inputs = examples.Select(e => e.GenerationInput?.Ids
            ?? throw new InvalidOperationException($"example {e.Example.Id} has no generation input")).ToArray();
        int budget = Math.Min(TaskEncoder.MaxNewTokens, encoder.MaxLength - inputs.Max(i => i.Count));
        int? eos = model.Spec.EosTokenId, newline = encoder.NewlineToken;
        var groups = inputs.Chunk(examplesPerCall).ToArray();
        var (first, count) = ranks.ShareOf(groups.Length);
        var answers = groups.Skip(first).Take(count).SelectMany(group => new TokenGenerator(model).Generate(group, Math.Max(1, budget), eos,
                tokens => newline is int nl && tokens[^1] == nl, perturbation))
            .Select(ids => tokenizer.Decode(ids.Where(id => id != eos).ToArray()).Trim()).ToArray();
        return ranks.AllGatherConcatenated(answers);
    }
}
