using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends;

/// <summary>
/// What follows a product within the same op, where a GPU fuses it into the product's epilogue rather than reading the
/// output back: an activation applied to the output, then the output added into a residual stream. It equals
/// <see cref="IBackend.Linear"/>, then <see cref="IBackend.Activation"/> on the output, then
/// <see cref="IBackend.Add"/>(residual, output), each rounding 16-bit activations at its own boundary, as the CPU
/// reference runs it. A backend that fuses keeps the intermediates in float32, which moves a 16-bit result by at most the
/// roundings it skips, and with a residual need not write the output at all: after such a call the output's contents
/// are unspecified, and only the residual is read.
/// </summary>
/// <param name="Activation">applied to x·Wᵀ + bias (nn.Linear and its activation: OPT's fc1 and ReLU, GPT-2's c_fc and gelu_new)</param>
/// <param name="Residual">
/// the residual stream the result is added into (an attention output or down projection and its residual add), of the
/// output's shape and dtype
/// </param>
public readonly record struct LinearEpilogue(ActivationKind? Activation = null, Tensor? Residual = null)
{
    public bool IsNone => Activation is null && Residual is null;

    /// <summary>The epilogue as separate ops on <paramref name="output"/>, just written by the product: the reference.</summary>
    internal void RunUnfused(IBackend backend, Tensor output)
    {
        if (Activation is { } kind) backend.Activation(kind, output);
        if (Residual is { } residual) backend.Add(residual, output);
    }
}
