using MeZO.Engine.Models;
using MeZO.Engine.Models.Gradients;
using MeZO.Engine.Noise;

namespace MeZO.Engine.Mezo;

/// <summary>
/// MeZO's projected gradient checked against what it estimates (issue 12): g = (L+ − L−)/2ε from
/// <see cref="MezoStep.Evaluate"/> and the same lockstep forward sweep training runs, beside the exact directional
/// derivative z·∇L from the backward pass (<see cref="ModelGradient"/>) and z regenerated from the seed. Every parameter
/// is trainable; the objective is L = Σ weight·log p(target | row) on one fixed batch, for both sides alike.
/// In 16-bit storage ∇L is the gradient at the stored weights widened to float32, the point the perturbed passes
/// add ±εz to.
/// </summary>
public sealed class EstimatorCheck : IDisposable
{
    private readonly Transformer _model;
    private readonly TrainableSet _trainable;
    private readonly TokenBatch _batch;
    private readonly int[] _rows, _targets;
    private readonly float[] _pairWeights;
    private readonly float[][] _gradients;  // dL/dθ of each trainable tensor, host copy, in the tensor's stored order
    private readonly float[] _z;            // one tensor's z at a time, sized for the largest
    private readonly float[] _plusLogProbs, _minusLogProbs;
    private readonly ForwardWorkspace _plusWs, _minusWs;

    /// <exception cref="NotSupportedException">the model's backend has no backward pass.</exception>
    public EstimatorCheck(Transformer model, TokenBatch batch, int[] rows, int[] targets, float[] pairWeights)
    {
        _model = model;
        _trainable = TrainableSet.Select(model.Weights, nameFilter: null);
        _batch = batch;
        _rows = rows;
        _targets = targets;
        _pairWeights = pairWeights;
        using (var gradients = ModelGradient.Compute(model, batch, rows, targets, pairWeights))
        {
            Objective = gradients.Objective;
            // By name: a tied LM head is the embedding tensor, one trainable entry whose gradient already holds both uses.
            _gradients = _trainable.Tensors.Select(t => gradients.Download(t.Parameter.Name)).ToArray();
        }
        _z = new float[_gradients.Max(g => g.Length)];
        _plusLogProbs = new float[rows.Length];
        _minusLogProbs = new float[rows.Length];
        _plusWs = model.CreateWorkspace(batch.BatchSize, batch.Length);
        try
        {
            _minusWs = model.CreateLockstepWorkspace(batch.BatchSize, batch.Length);
        }
        catch
        {
            _plusWs.Dispose(); // no caller holds this object yet to dispose it
            throw;
        }
    }

    /// <summary>L at the unperturbed weights, as the backward pass computed it.</summary>
    public double Objective { get; }

    public long ParameterCount => _trainable.ElementCount;

    /// <summary>
    /// z·∇L in double. Each tensor's z comes from the <see cref="TensorNoise"/> the forward pass finds for that tensor
    /// (<see cref="WeightPerturbation.NoiseOf"/>), so this is the z the perturbed passes add, not a second definition.
    /// </summary>
    public double DirectionalDerivative(ulong seed)
    {
        var direction = new WeightPerturbation(_trainable, seed, Scale: 1f);
        double sum = 0;
        for (int i = 0; i < _gradients.Length; i++)
        {
            var noise = direction.NoiseOf(_trainable.Tensors[i].Parameter.Tensor)!.Value;
            var gradient = _gradients[i];
            var z = _z.AsSpan(0, gradient.Length);
            GaussianNoise.Fill(noise.Seed, noise.FirstIndex, z);
            for (int j = 0; j < gradient.Length; j++) sum += (double)z[j] * gradient[j];
        }
        return sum;
    }

    /// <summary>g = (L+ − L−)/2ε exactly as a training step computes it: one lockstep sweep of the batch under ±εz.</summary>
    public double ProjectedGradient(ulong seed, double eps)
    {
        var step = new MezoStep(_trainable, eps, weightDecay: 0);
        var (_, g) = step.Evaluate(seed, plus =>
        {
            _model.ScoreTokensLockstep(_plusWs, _minusWs, _batch, _rows, _targets, plus, _plusLogProbs, _minusLogProbs);
            return new LossPair(WeightedSum(_plusLogProbs), WeightedSum(_minusLogProbs));
        });
        return g;
    }

    /// <summary>Σ weight·log p in double, as <see cref="ParameterGradients.Objective"/> sums it.</summary>
    private double WeightedSum(float[] logProbs)
    {
        double sum = 0;
        for (int i = 0; i < logProbs.Length; i++) sum += (double)_pairWeights[i] * logProbs[i];
        return sum;
    }

    public void Dispose()
    {
        _plusWs.Dispose();
        _minusWs.Dispose();
    }
}
