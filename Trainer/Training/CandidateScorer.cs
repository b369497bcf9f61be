using MeZO.Engine.Distributed;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;

namespace MeZO.Trainer.Training;

/// <summary>
/// Runs candidate sequences through the model in forward calls of at most <see cref="MaxSequences"/> sequences (the
/// micro-batch), and turns their token log-probabilities into MeZO's quantities: each candidate's mean log-probability
/// and the teacher-forced loss. One workspace, sized once, serves every call: training and evaluation at the same
/// micro-batch use the same memory. MeZO's lockstep calls (+ε and −ε in one sweep) add a second workspace of the same
/// size, made on the first such call: the −ε stream's activations. The ranks of a data-parallel job share out the
/// forward calls (a call's sequences are always the same ones, whoever runs it) and exchange the per-sequence sums, so
/// every rank returns what one process would, bit for bit: a kernel may round a row differently beside other rows (a
/// matrix product picks its blocking by shape), so sequences are never regrouped.
/// </summary>
public sealed class CandidateScorer : IDisposable
{
    private readonly Transformer _model;
    private readonly ForwardWorkspace _workspace;
    private ForwardWorkspace? _minusWorkspace;

    public CandidateScorer(Transformer model, int maxSequences, int maxLength)
    {
        _model = model;
        MaxSequences = maxSequences;
        MaxLength = maxLength;
        _workspace = model.CreateWorkspace(maxSequences, maxLength);
    }

    /// <summary>The workspace of the scorer's forward calls (backprop's forward pass shares it).</summary>
    public ForwardWorkspace Workspace => _workspace;

    public int MaxSequences { get; }
    public int MaxLength { get; }
    public long WorkspaceBytes => _workspace.Bytes + (_minusWorkspace?.Bytes ?? 0);

    /// <summary>Tokens processed so far (for throughput reports).</summary>
    public long TokensProcessed { get; private set; }

    /// <summary>Mean log-probability of each candidate of each example.</summary>
    /// <param name="ranks">the ranks that share the forward calls (each must ask for the same examples); this process alone by default</param>
    public double[][] Scores(IReadOnlyList<EncodedExample> examples, ICommunicator? ranks = null) =>
        Scores(examples, null, ranks ?? SingleProcess.Instance)[0];

    /// <summary><see cref="Scores(IReadOnlyList{EncodedExample})"/> under <paramref name="plus"/> and under its −ε twin, in one lockstep sweep.</summary>
    /// <param name="ranks">the ranks that share the forward calls (each must ask for the same examples); this process alone by default</param>
    public (double[][] Plus, double[][] Minus) ScoresLockstep(IReadOnlyList<EncodedExample> examples, WeightPerturbation plus,
        ICommunicator? ranks = null)
    {
        var both = Scores(examples, plus, ranks ?? SingleProcess.Instance);
        return (both[0], both[1]);
    }

    private double[][][] Scores(IReadOnlyList<EncodedExample> examples, WeightPerturbation? plus, ICommunicator ranks)
    {
        var jobs = new List<(int Example, int Candidate, ScoredSequence Sequence)>();
        for (int e = 0; e < examples.Count; e++)
            for (int c = 0; c < examples[e].Candidates.Count; c++)
                jobs.Add((e, c, new ScoredSequence(examples[e].Candidates[c].Ids, examples[e].Candidates[c].ScoredTokens)));
        return Run(jobs.Select(j => j.Sequence).ToArray(), plus, ranks).Select(sums =>
        {
            var scores = examples.Select(e => new double[e.Candidates.Count]).ToArray();
            for (int i = 0; i < jobs.Count; i++)
                scores[jobs[i].Example][jobs[i].Candidate] = sums[i] / jobs[i].Sequence.Scored;
            return scores;
        }).ToArray();
    }

    /// <summary>Mean negative log-likelihood over the correct candidates' tokens, all tokens of the batch weighted alike.</summary>
    /// <param name="ranks">the ranks that share the forward calls (each must ask for the same examples); this process alone by default</param>
    public double TeacherForcedLoss(IReadOnlyList<EncodedExample> examples, ICommunicator? ranks = null) =>
        TeacherForcedLoss(examples, null, ranks ?? SingleProcess.Instance)[0];

    /// <summary><see cref="TeacherForcedLoss(IReadOnlyList{EncodedExample})"/> under <paramref name="plus"/> and under its −ε twin, in one lockstep sweep.</summary>
    /// <param name="ranks">the ranks that share the forward calls (each must ask for the same examples); this process alone by default</param>
    public (double Plus, double Minus) TeacherForcedLossLockstep(IReadOnlyList<EncodedExample> examples, WeightPerturbation plus,
        ICommunicator? ranks = null)
    {
        var both = TeacherForcedLoss(examples, plus, ranks ?? SingleProcess.Instance);
        return (both[0], both[1]);
    }

    private double[] TeacherForcedLoss(IReadOnlyList<EncodedExample> examples, WeightPerturbation? plus, ICommunicator ranks)
    {
        var sequences = examples.Select(e =>
        {
            var s = e.Candidates[e.Example.CorrectCandidate];
            return new ScoredSequence(s.Ids, s.ScoredTokens);
        }).ToArray();
        int scored = sequences.Sum(s => s.Scored);
        return Run(sequences, plus, ranks).Select(sums => -sums.Sum() / scored).ToArray();
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

    /// <summary>
    /// The sum of log-probabilities of each sequence's scored tokens, in forward calls of ≤ MaxSequences: at θ, or
    /// under <paramref name="plus"/> and its −ε twin in lockstep (then two arrays of sums, +ε first). This rank runs
    /// its share of the calls; the others' sums are gathered.
    /// </summary>
    private double[][] Run(IReadOnlyList<ScoredSequence> sequences, WeightPerturbation? plus, ICommunicator ranks)
    {
        var (firstCall, calls) = ranks.ShareOf((sequences.Count + MaxSequences - 1) / MaxSequences);
        int first = firstCall * MaxSequences;
        int share = Math.Min(sequences.Count, (firstCall + calls) * MaxSequences) - first;
        var sums = new double[plus is null ? 1 : 2][];
        for (int i = 0; i < sums.Length; i++) sums[i] = new double[share];
        for (int start = 0; start < share; start += MaxSequences)
        {
            int count = Math.Min(MaxSequences, share - start);
            var (batch, rows, targets) = PackedSequences.Pack(sequences.Skip(first + start).Take(count).ToArray(), MaxLength);
            int scoredTotal = rows.Length;
            var logProbs = new float[sums.Length][];
            for (int i = 0; i < sums.Length; i++) logProbs[i] = new float[scoredTotal];
            if (plus is null)
            {
                _model.ScoreTokens(_workspace, batch, rows, targets, logProbs[0]);
            }
            else
            {
                _minusWorkspace ??= _model.CreateLockstepWorkspace(MaxSequences, MaxLength);
                _model.ScoreTokensLockstep(_workspace, _minusWorkspace, batch, rows, targets, plus, logProbs[0], logProbs[1]);
            }
            TokensProcessed += batch.Mask.Sum() * sums.Length;
            for (int stream = 0; stream < sums.Length; stream++)
            {
                int k = 0;
                for (int i = 0; i < count; i++)
                {
                    double sum = 0;
                    for (int j = 0; j < sequences[first + start + i].Scored; j++) sum += logProbs[stream][k++];
                    sums[stream][start + i] = sum;
                }
            }
        }
        return ranks.Size == 1 ? sums : sums.Select(mine => ranks.AllGatherConcatenated(mine)).ToArray();
    }

    public void Dispose()
    {
        _workspace.Dispose();
        _minusWorkspace?.Dispose();
    }
}
