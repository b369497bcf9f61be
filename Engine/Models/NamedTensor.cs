namespace MeZO.Engine.Models;

/// <summary>A parameter under its Hugging Face name.</summary>
public sealed record NamedTensor(string Name, Tensor Tensor)
{
    /// <summary>Biases and norm weights take no weight decay (DESIGN §3).</summary>
    public bool IsBiasOrNorm =>
        Name.EndsWith(".bias", StringComparison.Ordinal) || Tensor.Shape.Rank == 1;
}
