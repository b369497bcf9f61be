using MeZO.Engine.Models;

namespace MeZO.Trainer.Training;

/// <summary>
/// Runs candidate sequences through the model in forward calls of at most <see cref="MaxSequences"/> sequences (the
/// micro-batch), and turns their token log-probabilities into MeZO's quantities: each candidate's mean log-probability
/// and the teacher-forced loss. One workspace, sized once, serves every call: training and evaluation at the same
/// micro-batch use the same memory.
/// </summary>
public sealed class CandidateScorer : IDisposable
{
    private readonly Transformer _model;
    private readonly ForwardWorkspace _workspace;

    public CandidateScorer(Transformer model, int maxSequences, int maxLength)
    {
        _model = model;
        MaxSequences = maxSequences;
        MaxLength = maxLength;
        _workspace = model.CreateWorkspace(maxSequences, maxLength);
    }

    public int MaxSequences { get; }
    public int MaxLength { get; }
    public long WorkspaceBytes => _workspace.Bytes;

    /// <summary>Tokens processed so far (for throughput reports).</summary>
    public long TokensProcessed { get; private set; }

    /// <summary>Mean log-probability of each candidate of each example.</summary>
    public double[][] Scores(IReadOnlyList<EncodedExample> examples)
    {
        var jobs = new List<(int Example, int Candidate, EncodedSequenceView Sequence)>();
        for (int e = 0; e < examples.Count; e++)
            for (int c = 0; c < examples[e].Candidates.Count; c++)
                jobs.Add((e, c, new EncodedSequenceView(examples[e].Candidates[c].Ids, examples[e].Candidates[c].ScoredTokens)));
        var sums = Run(jobs.Select(j => j.Sequence).ToArray());
        var scores = examples.Select(e => new double[e.Candidates.Count]).ToArray();
        for (int i = 0; i < jobs.Count; i++)
            scores[jobs[i].Example][jobs[i].Candidate] = sums[i] / jobs[i].Sequence.Scored;
        return scores;
    }

    /// <summary>Mean negative log-likelihood over the correct candidates' tokens, all tokens of the batch weighted alike.</summary>
    public double TeacherForcedLoss(IReadOnlyList<EncodedExample> examples)
    {
        var sequences = examples.Select(e =>
        {
            var s = e.Candidates[e.Example.CorrectCandidate];
            return new EncodedSequenceView(s.Ids, s.ScoredTokens);
        }).ToArray();
        var sums = Run(sequences);
        return -sums.Sum() / sequences.Sum(s => s.Scored);
    }

    /// <summary>Cross-entropy over candidate scores (mean log-probabilities), averaged over examples.</summary>
    public static double ClassificationLoss(IReadOnlyList<EncodedExample> examples, double[][] scores)
    {
        double total = 0;
        for (int e = 0; e < examples.Count; e++)
        {
            double[] s = scores[e];
            double max = s.Max();
            double logSumExp = max + Math.Log(s.Sum(x => Math.Exp(x - max)));
            total += logSumExp - s[examples[e].Example.CorrectCandidate];
        }
        return total / examples.Count;
    }

    /// <summary>The sum of log-probabilities of each sequence's scored tokens, in forward calls of ≤ MaxSequences.</summary>
    private double[] Run(IReadOnlyList<EncodedSequenceView> sequences)
    {
        var sums = new double[sequences.Count];
        for (int start = 0; start < sequences.Count; start += MaxSequences)
        {
            int count = Math.Min(MaxSequences, sequences.Count - start);
            var chunk = new IReadOnlyList<int>[count];
            int scoredTotal = 0;
            for (int i = 0; i < count; i++)
            {
                var s = sequences[start + i];
                if (s.Ids.Count > MaxLength)
                    throw new InvalidOperationException($"a sequence of {s.Ids.Count} tokens exceeds the scorer's {MaxLength}");
                chunk[i] = s.Ids;
                scoredTotal += s.Scored;
            }
            var batch = TokenBatch.Pack(chunk, PaddingSide.Right);
            var rows = new int[scoredTotal];
            var targets = new int[scoredTotal];
            int k = 0;
            for (int i = 0; i < count; i++)
            {
                var s = sequences[start + i];
                int n = s.Ids.Count;
                // Token t (t ≥ n − scored) is predicted from the hidden state at t − 1.
                for (int t = n - s.Scored; t < n; t++, k++)
                {
                    rows[k] = batch.Row(i, t - 1);
                    targets[k] = s.Ids[t];
                }
            }
            var logProbs = new float[scoredTotal];
            _model.ScoreTokens(_workspace, batch, rows, targets, logProbs);
            TokensProcessed += batch.Mask.Sum();
            k = 0;
            for (int i = 0; i < count; i++)
            {
                double sum = 0;
                for (int j = 0; j < sequences[start + i].Scored; j++) sum += logProbs[k++];
                sums[start + i] = sum;
            }
        }
        return sums;
    }

    public void Dispose() => _workspace.Dispose();

    private readonly record struct EncodedSequenceView(IReadOnlyList<int> Ids, int Scored);
}
