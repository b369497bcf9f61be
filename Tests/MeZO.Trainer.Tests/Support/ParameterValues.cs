using MeZO.Engine.Tensors;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Trainer.Tests.Support;

/// <summary>
/// A weight tensor's values as float32, read from and written to the backend through its raw storage bits, with this
/// file's own bfloat16 rounding (round to nearest, ties to even: what "rounded once to the storage dtype" means).
/// </summary>
internal static class ParameterValues
{
    public static float[] Read(Tensor tensor)
    {
        var values = new float[tensor.ElementCount];
        switch (tensor.DType)
        {
            case DType.F32:
                tensor.Backend.Download<float>(tensor, values);
                break;
            case DType.BF16:
                var bits = new ushort[values.Length];
                tensor.Backend.Download<ushort>(tensor, bits);
                for (int i = 0; i < values.Length; i++) values[i] = BitConverter.Int32BitsToSingle(bits[i] << 16);
                break;
            default:
                throw new NotSupportedException($"{tensor.DType}: the tests read F32 and BF16 weights");
        }
        return values;
    }

    /// <summary>Writes values that are already representable in the tensor's dtype.</summary>
    public static void Write(Tensor tensor, float[] values)
    {
        switch (tensor.DType)
        {
            case DType.F32:
                tensor.Backend.Upload<float>(tensor, values);
                break;
            case DType.BF16:
                var bits = new ushort[values.Length];
                for (int i = 0; i < values.Length; i++)
                {
                    if (RoundTo(DType.BF16, values[i]) != values[i]) throw new ArgumentException("not a bfloat16 value", nameof(values));
                    bits[i] = (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16);
                }
                tensor.Backend.Upload<ushort>(tensor, bits);
                break;
            default:
                throw new NotSupportedException($"{tensor.DType}: the tests write F32 and BF16 weights");
        }
    }

    /// <summary>The float32 value as stored in <paramref name="type"/> (finite values only).</summary>
    public static float RoundTo(DType type, float value)
    {
        if (type == DType.F32) return value;
        if (type != DType.BF16) throw new NotSupportedException(type.ToString());
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint lowerHalf = bits & 0xFFFF, kept = bits >> 16;
        if (lowerHalf > 0x8000 || (lowerHalf == 0x8000 && (kept & 1) == 1)) kept++;
        return BitConverter.Int32BitsToSingle((int)(kept << 16));
    }

    /// <summary>Index of the first element whose bits differ, or −1.</summary>
    public static int FirstBitDifference(float[] actual, float[] expected)
    {
        if (actual.Length != expected.Length) return 0;
        for (int i = 0; i < actual.Length; i++)
            if (BitConverter.SingleToUInt32Bits(actual[i]) != BitConverter.SingleToUInt32Bits(expected[i])) return i;
        return -1;
    }
}
