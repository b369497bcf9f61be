using MeZO.Engine.Models;
using MeZO.Engine.Models.Gradients;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Tasks;

namespace MeZO.Trainer.Training;

/// <summary>
/// The task losses <see cref="CandidateScorer"/> computes, with their gradient: forward and backward calls of at most
/// <see cref="MaxSequences"/> sequences (the micro-batch), whose gradients add up in one <see cref="ModelGradient"/>.
/// A classification example's candidates always share a call, so the cross-entropy over them is exact whatever the
/// micro-batch: each candidate's tokens carry weight (softmax − onehot)/(n·tokens) of its mean log-probability.
/// </summary>
public sealed class GradientScorer : IDisposable
{
    private readonly ModelGradient _gradient;

    /// <param name="trainable">the parameters to differentiate; the others are frozen</param>
    /// <param name="recomputeLayers">gradient checkpointing (see <see cref="ModelGradient"/>)</param>
    /// <param name="workspace">a workspace to share (the session scorer's), or null for one of its own</param>
    public GradientScorer(Transformer model, int maxSequences, int maxLength, IReadOnlyCollection<Tensor> trainable, bool recomputeLayers,
        ForwardWorkspace? workspace = null)
    {
        MaxSequences = maxSequences;
        MaxLength = maxLength;
        _gradient = new ModelGradient(model, maxSequences, maxLength, recomputeLayers, trainable, workspace);
    }

    public int MaxSequences { get; }
    public int MaxLength { get; }
    public ModelGradient Gradient => _gradient;

    /// <summary>Tokens processed so far, forward calls only (for throughput reports).</summary>
    public long TokensProcessed { get; private set; }

    /// <summary>
    /// The batch's loss at θ (cross-entropy over candidates for classification, the correct answers' teacher-forced
    /// mean negative log-likelihood otherwise), its gradient ADDED to <see cref="Gradient"/>'s.
    /// </summary>
    public double AccumulateLoss(IReadOnlyList<EncodedExample> batch, TaskKind kind) =>
        kind == TaskKind.Classification ? ClassificationLoss(batch) : TeacherForcedLoss(batch);

    private double ClassificationLoss(IReadOnlyList<EncodedExample> batch)
    {
        int n = batch.Count;
        double loss = 0;
        for (int first = 0; first < n;)
        {
            // Whole examples, as many as fit in a call.
            int end = first, sequences = 0;
            while (end < n && (end == first || sequences + batch[end].Candidates.Count <= MaxSequences))
                sequences += batch[end++].Candidates.Count;
            if (sequences > MaxSequences)
                throw new InvalidOperationException($"an example of {sequences} candidates exceeds the micro-batch of {MaxSequences} sequences");
            var chunk = batch.Skip(first).Take(end - first).ToArray();
            var scored = chunk.SelectMany(e => e.Candidates.Select(c => new ScoredSequence(c.Ids, c.ScoredTokens))).ToArray();
            var packed = PackedSequences.Pack(scored, MaxLength);
            float[] logProbs = Forward(packed);

            var scores = new double[chunk.Length][];
            var weights = new float[logProbs.Length];
            int k = 0, s = 0;
            for (int e = 0; e < chunk.Length; e++)
            {
                int candidates = chunk[e].Candidates.Count;
                scores[e] = new double[candidates];
                int start = k;
                for (int c = 0; c < candidates; c++)
                {
                    double sum = 0;
                    for (int j = 0; j < scored[s + c].Scored; j++) sum += logProbs[k++];
                    scores[e][c] = sum / scored[s + c].Scored;
                }
                double max = scores[e].Max(), total = scores[e].Sum(x => Math.Exp(x - max));
                k = start;
                for (int c = 0; c < candidates; c++)
                {
                    double p = Math.Exp(scores[e][c] - max) / total;
                    double weight = (p - (c == chunk[e].Example.CorrectCandidate ? 1 : 0)) / ((double)n * scored[s + c].Scored);
                    for (int j = 0; j < scored[s + c].Scored; j++) weights[k++] = (float)weight;
                }
                s += candidates;
            }
            loss += CandidateScorer.ClassificationLoss(chunk, scores) * chunk.Length / n;
            _gradient.Backward(weights);
            first = end;
        }
        return loss;
    }

    private double TeacherForcedLoss(IReadOnlyList<EncodedExample> batch)
    {
        var sequences = batch.Select(e =>
        {
            var c = e.Candidates[e.Example.CorrectCandidate];
            return new ScoredSequence(c.Ids, c.ScoredTokens);
        }).ToArray();
        int scoredTotal = sequences.Sum(s => s.Scored);
        double sum = 0;
        for (int start = 0; start < sequences.Length; start += MaxSequences)
        {
            var packed = PackedSequences.Pack(sequences.Skip(start).Take(MaxSequences).ToArray(), MaxLength);
            float[] logProbs = Forward(packed);
            foreach (float lp in logProbs) sum += lp;
            _gradient.Backward(Enumerable.Repeat(-1f / scoredTotal, logProbs.Length).ToArray());
        }
        return -sum / scoredTotal;
    }

    private float[] Forward(PackedSequences packed)
    {
        TokensProcessed += packed.Batch.Mask.Sum();
        return _gradient.Forward(packed.Batch, packed.Rows, packed.Targets);
    }

    public void Dispose() => _gradient.Dispose();
}
