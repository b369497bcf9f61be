namespace MeZO.Engine.Cuda;

/// <summary>
/// The record a kernel leaves when it finds a bad index in device data (Kernels/device.cuh, MEZO_FAULT_*): kernels
/// cannot throw, so the first fault is kept on the device and raised by the backend at its next synchronisation,
/// in the words the CPU backend uses for the same mistake.
/// </summary>
internal readonly record struct DeviceFault(int Code, int Position, int Value, int Limit)
{
    public const int Ints = 4;

    public bool IsSet => Code != 0;

    public ArgumentException ToException() => new(Code switch
    {
        1 => $"Embedding: id {Value} at position {Position} is outside the table (vocabulary {Limit})",
        2 => $"GatherRows: row {Value} (entry {Position}) is outside the input ({Limit} rows)",
        3 => $"LogSoftmaxGather: target {Value} of row {Position} is outside the vocabulary ({Limit})",
        _ => $"a CUDA kernel reported fault {Code} (position {Position}, value {Value}, limit {Limit})",
    } + " (found on the GPU, raised at the next synchronisation)");
}
