using System.Collections;

namespace MeZO.Engine.Models;

/// <summary>
/// One flag per layer, set from layer <paramref name="first"/> on, stored as two numbers: config.json's layer count
/// must not size an allocation before the checkpoint has confirmed it.
/// </summary>
internal sealed class LayersFrom(int count, int first) : IReadOnlyList<bool>
{
    public int Count => count;

    public bool this[int index] => (uint)index < (uint)count ? index >= first : throw new ArgumentOutOfRangeException(nameof(index));

    public IEnumerator<bool> GetEnumerator()
    {
        for (int i = 0; i < count; i++) yield return i >= first;
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
