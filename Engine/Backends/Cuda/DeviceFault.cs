namespace MeZO.Engine.Backends.Cuda;

/// <summary>
/// The record a kernel leaves when it finds a bad index in device data, or a result it cannot store (Kernels/device.cuh,
/// MEZO_FAULT_*): kernels cannot throw, so the first fault is kept on the device and raised by the backend at its next
/// synchronisation, in the words the CPU backend uses for the same mistake.
/// </summary>
internal readonly record struct DeviceFault(int Code, int Position, int Value, int Limit)
{
    public const int Ints = 4;

    /// <summary>MEZO_FAULT_UPDATE_OVERFLOW: Position the element, Value its float32 result's bits, Limit the tensor's subject number.</summary>
    public const int UpdateOverflow = 4;

    public bool IsSet => Code != 0;

    /// <summary>The exception the CPU backend throws for the same input; <paramref name="subjects"/> names a faulting tensor.</summary>
    public Exception ToException(FaultSubjects subjects)
    {
        const string where = " (found on the GPU, raised at the next synchronisation)";
        if (Code == UpdateOverflow)
        {
            var (name, type) = subjects[Limit];
            return new OverflowException($"the MeZO update of '{name}' overflows: {BitConverter.Int32BitsToSingle(Value)} " +
                                         $"(element {Position}) is beyond the largest finite {type} value" + where);
        }
        return new ArgumentException(Code switch
        {
            1 => $"Embedding: id {Value} at position {Position} is outside the table (vocabulary {Limit})",
            2 => $"GatherRows: row {Value} (entry {Position}) is outside the input ({Limit} rows)",
            3 => $"LogSoftmaxGather: target {Value} of row {Position} is outside the vocabulary ({Limit})",
            5 => $"EmbeddingBackward: id {Value} at position {Position} is outside the table gradient ({Limit} rows)",
            6 => $"GatherRowsBackward: row {Value} at position {Position} is outside the input gradient ({Limit} rows)",
            7 => $"LogSoftmaxGatherBackward: target {Value} of row {Position} is outside the vocabulary ({Limit})",
            _ => $"a CUDA kernel reported fault {Code} (position {Position}, value {Value}, limit {Limit})",
        } + where);
    }
}
