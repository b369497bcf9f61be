using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cuda;

/// <summary>
/// The tensors a device fault can name. A kernel knows addresses, not names: an op whose kernel may fault on a tensor's
/// values (MezoUpdate's overflow) passes the tensor's number, and the raised exception names the tensor. One number per
/// distinct name and dtype for the backend's lifetime, so a number baked into a captured graph stays valid on replay
/// and steady-state steps allocate nothing.
/// </summary>
internal sealed class FaultSubjects
{
    private readonly Dictionary<(string Name, DType Type), int> _numbers = [];
    private readonly List<(string Name, DType Type)> _subjects = [];

    public int Number(Tensor tensor)
    {
        var key = (tensor.Name, tensor.DType);
        if (_numbers.TryGetValue(key, out int number)) return number;
        _numbers[key] = number = _subjects.Count;
        _subjects.Add(key);
        return number;
    }

    public (string Name, DType Type) this[int number] => _subjects[number];
}
