namespace MeZO.Engine.Mezo;

/// <summary>
/// The per-call factors of MeZO's update θ ← round(θ·<see cref="Decay"/> − <see cref="Step"/>·z) (DESIGN §3):
/// 1 − ηλ and ηg, each computed once in float32 from float32 operands, here and nowhere else, so every backend
/// multiplies by the same two numbers.
/// </summary>
public readonly record struct UpdateFactors(float Decay, float Step)
{
    /// <param name="learningRate">η, already divided by the number of samples</param>
    /// <param name="weightDecay">λ, 0 for biases and norm weights</param>
    /// <param name="projectedGradient">g = (L+ − L−)/2ε</param>
    public static UpdateFactors For(double learningRate, double weightDecay, double projectedGradient)
    {
        float eta = (float)learningRate;
        return new UpdateFactors(1f - eta * (float)weightDecay, eta * (float)projectedGradient);
    }
}
