using MeZO.Engine.Mezo;
using MeZO.Engine.Models;

namespace MeZO.Cli.Bench;

/// <summary>
/// The work `mezo bench step` times, on a loaded model with a random full-length batch: a scoring forward pass, and a
/// MeZO step through the same <see cref="MezoStep"/> and lockstep forward the trainer uses (lr 0 keeps the weights as
/// they are while every pass runs in full). <see cref="StepBenchmark"/> times it; `--plan` records the same step's
/// launches on a CUDA plan backend, so the roofline is of exactly what is measured.
/// </summary>
internal sealed class StepWorkload : IDisposable
{
    private readonly Transformer _model;
    private readonly int _batch, _length;
    private readonly TokenBatch _tokens;
    private readonly int[] _rows, _targets;
    private readonly float[] _logProbs, _minusLogProbs;
    private readonly ForwardWorkspace _ws;
    private readonly MezoStep _step;
    private ForwardWorkspace? _minusWs;
    private ulong _seed;

    public StepWorkload(Transformer model, int batch, int length, ulong seed = 1)
    {
        _model = model;
        _batch = batch;
        _length = length;
        _seed = seed;
        var random = new Random(batch * 7919 + length);
        var sequences = new IReadOnlyList<int>[batch];
        for (int b = 0; b < batch; b++)
        {
            var ids = new int[length];
            for (int t = 0; t < length; t++) ids[t] = random.Next(0, model.Spec.VocabSize);
            sequences[b] = ids;
        }
        _tokens = TokenBatch.Pack(sequences, PaddingSide.Right);
        _rows = Enumerable.Range(0, batch).SelectMany(b => Enumerable.Range(0, length - 1).Select(t => _tokens.Row(b, t))).ToArray();
        _targets = Enumerable.Range(0, batch).SelectMany(b => Enumerable.Range(1, length - 1).Select(t => _tokens.Ids[b * length + t])).ToArray();
        _logProbs = new float[_rows.Length];
        _minusLogProbs = new float[_rows.Length];
        _ws = model.CreateWorkspace(batch, length);
        _step = new MezoStep(TrainableSet.Select(model.Weights, nameFilter: null), eps: 1e-3, weightDecay: 0);
    }

    /// <summary>One scoring forward pass; it downloads the log-probabilities, so the pass has finished when it returns.</summary>
    public double Loss()
    {
        _model.ScoreTokens(_ws, _tokens, _rows, _targets, _logProbs);
        return -_logProbs.Average();
    }

    /// <summary>
    /// One MeZO step: L+ and L− in one lockstep sweep, then the update, finished. The −ε stream's workspace is made by
    /// the first step, so forward passes before it measure inference memory alone.
    /// </summary>
    public void Step()
    {
        _minusWs ??= _model.CreateLockstepWorkspace(_batch, _length);
        var (_, g) = _step.Evaluate(_seed, plus =>
        {
            _model.ScoreTokensLockstep(_ws, _minusWs, _tokens, _rows, _targets, plus, _logProbs, _minusLogProbs);
            return new LossPair(-_logProbs.Average(), -_minusLogProbs.Average());
        });
        _step.Update(_seed, learningRate: 0, g);
        _model.Backend.Synchronize();
        _seed++;
    }

    /// <summary>One update pass over every weight (g = 0), finished.</summary>
    public void Update()
    {
        _step.Update(_seed, learningRate: 0, projectedGradient: 0);
        _model.Backend.Synchronize();
    }

    public void Dispose()
    {
        _minusWs?.Dispose();
        _ws.Dispose();
    }
}
