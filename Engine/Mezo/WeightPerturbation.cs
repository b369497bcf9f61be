namespace MeZO.Engine.Mezo;

/// <summary>
/// The weights one forward stream computes with: θ + <see cref="Scale"/>·z(<see cref="Seed"/>) on the tensors of
/// <see cref="Trainable"/>, θ elsewhere. Nothing is written to θ: each op that reads a trainable tensor adds the
/// perturbation in float32 as it reads (DESIGN §3, "the perturbation is never stored").
/// </summary>
public sealed record WeightPerturbation(TrainableSet Trainable, ulong Seed, float Scale)
{
    /// <summary>The z of a tensor the forward pass reads, or null when the tensor is frozen.</summary>
    public TensorNoise? NoiseOf(Tensor tensor) =>
        Trainable.Find(tensor) is { } t ? new TensorNoise(Seed, t.FirstIndex) : null;
}
