using MeZO.Engine.Checkpoints;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>Moves one checkpoint tensor into a backend tensor, converting dtype on the host when they differ.</summary>
internal static class WeightCopy
{
    public static void Upload(CheckpointTensor source, Tensor destination)
    {
        var backend = destination.Backend;
        if (source.DType == destination.DType)
        {
            backend.Upload(destination, source.Bytes);
            return;
        }
        var values = new float[source.ElementCount];
        source.CopyToSingles(values);
        switch (destination.DType)
        {
            case DType.F32:
                backend.Upload<float>(destination, values);
                break;
            case DType.F16:
            case DType.BF16:
            {
                var bits = new ushort[values.Length];
                for (int i = 0; i < values.Length; i++)
                    bits[i] = destination.DType == DType.F16
                        ? ScalarConversions.SingleToHalf(values[i])
                        : ScalarConversions.SingleToBFloat16(values[i]);
                backend.Upload<ushort>(destination, bits);
                break;
            }
            default:
                throw new ArgumentException($"cannot store parameter '{destination.Name}' as {destination.DType}");
        }
    }
}
