using MeZO.Engine.Backends;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models.Gradients;

/// <summary>
/// What the backward pass keeps of a forward pass: it watches the model's own forward call (<see cref="IForwardObserver"/>)
/// and copies each tensor it was told to keep into a buffer of its own before the workspace reuses the memory. So the
/// forward pass that gradients differentiate is the one that scores and trains, not a second copy of it.
/// </summary>
internal sealed class ActivationTape(IBackend backend) : IForwardObserver
{
    private readonly Dictionary<(string Name, int Layer), Tensor> _keep = [];

    /// <summary>Keeps the tensor named <paramref name="name"/> in layer <paramref name="layer"/> (−1 outside the layers) in <paramref name="destination"/>.</summary>
    public void Keep(string name, int layer, Tensor destination) => _keep[(name, layer)] = destination;

    public void Clear() => _keep.Clear();

    public void Seen(string name, int layer, Tensor tensor)
    {
        if (!_keep.TryGetValue((name, layer), out var destination)) return;
        if (destination.ElementCount != tensor.ElementCount)
            throw new InvalidOperationException($"the tape keeps {name} (layer {layer}) in {destination.ElementCount} values; the pass showed {tensor.ElementCount}");
        backend.SliceColumns(tensor, 0, destination.View(tensor.Shape));
    }
}
