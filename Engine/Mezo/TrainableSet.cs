using System.Text.RegularExpressions;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Streaming;

namespace MeZO.Engine.Mezo;

/// <summary>One trainable tensor and where its elements start in the concatenated z stream.</summary>
public sealed record TrainableTensor(NamedTensor Parameter, ulong FirstIndex, bool TakesWeightDecay);

/// <summary>
/// The parameters MeZO perturbs, in canonical order (ordinal Hugging Face name order, a tied tensor once; DESIGN §3),
/// each with the global index of its first element, so z is the same however the tensors are stored.
/// </summary>
public sealed class TrainableSet
{
    private readonly Dictionary<Tensor, TrainableTensor> _byTensor;

    private TrainableSet(IReadOnlyList<TrainableTensor> tensors, PendingUpdates? pending)
    {
        Tensors = tensors;
        Pending = pending;
        ElementCount = tensors.Sum(t => t.Parameter.Tensor.ElementCount);
        _byTensor = tensors.ToDictionary<TrainableTensor, Tensor>(t => t.Parameter.Tensor, ReferenceEqualityComparer.Instance);
    }

    public IReadOnlyList<TrainableTensor> Tensors { get; }
    public long ElementCount { get; }

    /// <summary>Where the updates of a streamed model's layer tensors wait for the layer's next copy; null when none are streamed.</summary>
    internal PendingUpdates? Pending { get; }

    /// <summary>
    /// The entry of a tensor the forward pass reads, or null when it is frozen. By reference: a tied LM head is the
    /// embedding tensor itself, so it finds the embedding's entry and reads the same z.
    /// </summary>
    public TrainableTensor? Find(Tensor tensor) => _byTensor.GetValueOrDefault(tensor);

    /// <summary>Every parameter, or those whose name matches <paramref name="nameFilter"/> (a .NET regular expression).</summary>
    public static TrainableSet Select(ModelWeights weights, string? nameFilter)
    {
        Regex? regex = null;
        if (!string.IsNullOrEmpty(nameFilter))
        {
            try
            {
                regex = new Regex(nameFilter, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                throw new InvalidInputException($"--trainable '{nameFilter}' is not a valid regular expression ({e.Message})");
            }
        }
        var chosen = new List<TrainableTensor>();
        ulong index = 0;
        foreach (var p in weights.Parameters) // already in ordinal name order
        {
            if (regex is not null && !Matches(regex, p.Name)) continue;
            chosen.Add(new TrainableTensor(p, index, TakesWeightDecay: !p.IsBiasOrNorm));
            index += (ulong)p.Tensor.ElementCount;
        }
        if (chosen.Count == 0)
            throw new InvalidInputException($"--trainable '{nameFilter}' matches no parameter of the model");
        return new TrainableSet(chosen, weights.Pending);
    }

    /// <summary>
    /// A set of adapter parameters (prefix tuning's prompt_embeddings, LoRA's A and B): all of them, in ordinal name
    /// order, every one a weight matrix that takes weight decay. The model's own weights stay frozen.
    /// </summary>
    /// <exception cref="ArgumentException">no parameter, or two with one name.</exception>
    public static TrainableSet Of(IReadOnlyList<NamedTensor> parameters)
    {
        if (parameters.Count == 0) throw new ArgumentException("a trainable set needs at least one parameter", nameof(parameters));
        var chosen = new List<TrainableTensor>();
        ulong index = 0;
        string? previous = null;
        foreach (var p in parameters.OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            if (p.Name == previous) throw new ArgumentException($"two parameters are named '{p.Name}'", nameof(parameters));
            previous = p.Name;
            chosen.Add(new TrainableTensor(p, index, TakesWeightDecay: true));
            index += (ulong)p.Tensor.ElementCount;
        }
        return new TrainableSet(chosen, null);
    }

    private static bool Matches(Regex regex, string name)
    {
        try
        {
            return regex.IsMatch(name);
        }
        catch (RegexMatchTimeoutException)
        {
            throw new InvalidInputException($"--trainable '{regex}' took over a second on '{name}'; simplify the pattern");
        }
    }
}
