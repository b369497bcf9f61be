using MeZO.Engine.Checkpoints;
using MeZO.Engine.Tensors;

namespace MeZO.Fuzz;

/// <summary>
/// The input is a model folder's model.safetensors. Opening it validates the header; every tensor it accepts is then
/// read back, raw and converted to float32, so an entry that passes validation but points outside the file is caught.
/// </summary>
public static class SafetensorsTarget
{
    // Conversion is linear in the tensor; a bound keeps one input's run short without skipping any code path.
    private const int MaxConvertedElements = 1 << 16;

    public static void Read(byte[] input, ScratchFolder scratch)
    {
        scratch.Write(CheckpointReader.SingleFileName, input);
        using var reader = CheckpointReader.Open(scratch.Path);
        foreach (string name in reader.TensorNames)
        {
            CheckpointTensor tensor = reader.Get(name);
            _ = tensor.Bytes.Length;
            if (tensor.DType is DType.F32 or DType.F16 or DType.BF16 && tensor.ElementCount <= MaxConvertedElements)
                tensor.CopyToSingles(new float[tensor.ElementCount]);
        }
    }
}
