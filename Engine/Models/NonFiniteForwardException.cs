using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>
/// A forward pass gave NaN or ±∞ where a result is read out (logits, log-probabilities, the greedy token): the weights
/// or config.json's values overflow float32 somewhere. A user error, raised before anything is printed, so a command
/// never reports numbers computed from a broken pass.
/// </summary>
public sealed class NonFiniteForwardException(string modelDirectory, string what)
    : InvalidInputException($"{modelDirectory}: the forward pass produced non-finite values (NaN or ±∞) in the {what}; " +
                            "the weights or config.json's values overflow float32")
{
    /// <summary>Throws when any of <paramref name="values"/> is NaN or ±∞.</summary>
    public static void ThrowIfAny(string modelDirectory, ReadOnlySpan<float> values, string what)
    {
        if (NonFiniteScan.FirstIndex(values) >= 0) throw new NonFiniteForwardException(modelDirectory, what);
    }
}
