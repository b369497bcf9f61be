using MeZO.Engine.Models;

namespace MeZO.Engine.Adapters;

/// <summary>
/// A parameter-efficient adapter on a frozen model: its tensors are what MeZO perturbs and updates (in
/// <see cref="Parameters"/> order), and it saves as a PEFT adapter folder.
/// </summary>
public interface IAdapter : IDisposable
{
    AdapterKind Kind { get; }

    /// <summary>The trainable tensors under PEFT's names, in ordinal name order.</summary>
    IReadOnlyList<NamedTensor> Parameters { get; }

    /// <summary>Bytes of the adapter's own allocation.</summary>
    long Bytes { get; }

    /// <summary>
    /// Writes the adapter as PEFT's save_pretrained does, atomically, naming <paramref name="baseModel"/> as its base;
    /// <paramref name="extraFiles"/> are copied in beside it.
    /// </summary>
    void Save(string directory, string baseModel, IEnumerable<string> extraFiles);
}
