using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models.Gradients;

/// <summary>
/// What <see cref="ModelGradient.Compute"/> returns: the objective L = Σ weight·log p(target | row), each pair's
/// log-probability, and dL/dθ for every parameter, float32, under its Hugging Face name (a tied LM head has none of its
/// own: its use is summed into the token embedding's gradient). Owns the gradient tensors.
/// </summary>
public sealed class ParameterGradients : IDisposable
{
    internal ParameterGradients(double objective, float[] logProbs, IReadOnlyList<NamedTensor> gradients)
    {
        Objective = objective;
        LogProbs = logProbs;
        Gradients = gradients;
    }

    /// <summary>L = Σ weight·log p, summed in double from the float32 log-probabilities.</summary>
    public double Objective { get; }

    /// <summary>log p(target | row) of each scored pair, in the order given.</summary>
    public float[] LogProbs { get; }

    /// <summary>One float32 gradient per parameter, in <see cref="ModelWeights.Parameters"/>' order and under its names.</summary>
    public IReadOnlyList<NamedTensor> Gradients { get; }

    public long Bytes => Gradients.Sum(g => g.Tensor.ByteCount);

    /// <summary>The gradient of the parameter stored under <paramref name="name"/>.</summary>
    public Tensor Get(string name) => Gradients.FirstOrDefault(g => g.Name == name)?.Tensor
        ?? throw new KeyNotFoundException($"no gradient for '{name}' (a tied lm_head's is the token embedding's)");

    /// <summary>The gradient of <paramref name="name"/> copied to the host.</summary>
    public float[] Download(string name)
    {
        var t = Get(name);
        var values = new float[t.ElementCount];
        t.Backend.Download<float>(t, values);
        return values;
    }

    public void Dispose()
    {
        foreach (var g in Gradients) g.Tensor.Dispose();
    }
}
