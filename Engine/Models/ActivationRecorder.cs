using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>
/// A <see cref="IForwardObserver"/> that copies every tensor it is shown to the host, in the order the pass emits them:
/// what a dump of the activations and an op-by-op comparison of two backends are made of. A name shown again in the
/// same layer (the logits, which the LM head computes a chunk of rows at a time) gets its rows appended.
/// </summary>
public sealed class ActivationRecorder : IForwardObserver
{
    private readonly List<RecordedActivation> _recorded = [];
    private readonly Dictionary<(string Name, int Layer), int> _indexOf = [];

    public IReadOnlyList<RecordedActivation> Recorded => _recorded;

    public void Seen(string name, int layer, Tensor tensor)
    {
        var values = HostValues.Read(tensor);
        int rows = tensor.Shape[0], width = (int)(tensor.ElementCount / rows);
        if (_indexOf.TryGetValue((name, layer), out int index))
        {
            var earlier = _recorded[index];
            if (earlier.Width != width)
                throw new InvalidOperationException($"'{earlier.Key}' was shown with {earlier.Width} columns, now with {width}");
            _recorded[index] = earlier with { Rows = earlier.Rows + rows, Values = [.. earlier.Values, .. values] };
            return;
        }
        _indexOf.Add((name, layer), _recorded.Count);
        _recorded.Add(new RecordedActivation(name, layer, rows, width, values));
    }
}
