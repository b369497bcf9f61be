namespace MeZO.Engine.Backends;

/// <summary>
/// The factors of one AdamW step, as torch.optim.AdamW computes them in double on the host: decoupled weight decay
/// multiplies θ by <see cref="Decay"/> = 1 − η·λ; the moments move by β₁ and β₂ (their complements rounded from
/// double, as PyTorch's Python scalars are); the step is
/// θ −= <see cref="StepSize"/>·m / (√v / <see cref="BiasCorrection2Sqrt"/> + ε), with StepSize = η/(1 − β₁ᵗ) and
/// BiasCorrection2Sqrt = √(1 − β₂ᵗ).
/// </summary>
public readonly record struct AdamWFactors(float Decay, float Beta1, float OneMinusBeta1, float Beta2, float OneMinusBeta2, float Eps, float StepSize,
    float BiasCorrection2Sqrt)
{
    /// <summary>The factors of step <paramref name="t"/> (1-based), computed in double and rounded once, as PyTorch's scalars are.</summary>
    public static AdamWFactors For(double learningRate, double beta1, double beta2, double eps, double weightDecay, long t)
    {
        if (t < 1) throw new ArgumentOutOfRangeException(nameof(t), "AdamW counts its steps from 1");
        return new AdamWFactors((float)(1 - learningRate * weightDecay), (float)beta1, (float)(1 - beta1), (float)beta2, (float)(1 - beta2), (float)eps,
            (float)(learningRate / (1 - Math.Pow(beta1, t))), (float)Math.Sqrt(1 - Math.Pow(beta2, t)));
    }
}

/// <summary>
/// The element-wise updates of first-order training (issue 12) and the reductions around them, float32 arithmetic
/// whatever the weight's dtype. A 16-bit parameter is updated through its float32 master copy, as mixed-precision
/// training does: the master takes the step and the parameter becomes the master rounded to nearest (even); a float32
/// parameter is its own master (pass null). Every op validates its shapes and throws <see cref="ArgumentException"/>
/// naming the tensor. The CPU backend is the reference.
/// </summary>
public interface IOptimizerOps
{
    /// <summary>master (F32) = the 16-bit <paramref name="parameter"/>'s values, exactly: a master copy before the first step.</summary>
    void WidenToMaster(Tensor parameter, Tensor master);

    /// <summary>Σ x² of an F32 tensor, accumulated in double: the squared gradient norm (NaN or ∞ when an element is not finite).</summary>
    double SumOfSquares(Tensor t);

    /// <summary>t ×= factor, F32 (gradient clipping).</summary>
    void Scale(Tensor t, float factor);

    /// <summary>
    /// torch.optim.SGD without momentum: d = g + λ·θ (coupled weight decay, when λ ≠ 0), θ −= η·d; on the master when
    /// given, then rounded into the parameter.
    /// </summary>
    void SgdUpdate(Tensor parameter, Tensor? master, Tensor grad, float learningRate, float weightDecay);

    /// <summary>
    /// One torch.optim.AdamW step (not amsgrad): θ ×= Decay; m = β₁m + (1 − β₁)g; v = β₂v + ((1 − β₂)g)g;
    /// θ −= StepSize·m / (√v / BiasCorrection2Sqrt + ε). m and v are F32 of the parameter's shape.
    /// </summary>
    void AdamWUpdate(Tensor parameter, Tensor? master, Tensor grad, Tensor m, Tensor v, AdamWFactors factors);
}
