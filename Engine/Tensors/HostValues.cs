namespace MeZO.Engine.Tensors;

/// <summary>
/// A float tensor's values on the host as float32, whatever its storage dtype and backend: read widened, written
/// rounded to nearest even. For small tensors and checks (adapters, merges, parity), not for moving weights in bulk,
/// which goes through WeightCopy's staged chunks.
/// </summary>
public static class HostValues
{
    /// <summary>A tensor's values widened to float32.</summary>
    public static float[] Read(Tensor t)
    {
        var values = new float[t.ElementCount];
        Read(t, values);
        return values;
    }

    /// <summary>A tensor's values widened to float32 into <paramref name="values"/>, which holds exactly its elements.</summary>
    public static void Read(Tensor t, Span<float> values)
    {
        switch (t.DType)
        {
            case DType.F32:
                t.Backend.Download(t, values);
                return;
            case DType.F16 or DType.BF16:
                var bits = new ushort[t.ElementCount];
                t.Backend.Download<ushort>(t, bits);
                for (int i = 0; i < bits.Length; i++)
                    values[i] = t.DType == DType.F16 ? ScalarConversions.HalfToSingle(bits[i]) : ScalarConversions.BFloat16ToSingle(bits[i]);
                return;
            default:
                throw new ArgumentException($"'{t.Name}' is {t.DType}, not a float tensor");
        }
    }

    /// <summary>Sets every value of the tensor, rounded to its storage dtype.</summary>
    public static void Write(Tensor t, float[] values)
    {
        switch (t.DType)
        {
            case DType.F32:
                t.Backend.Upload<float>(t, values);
                break;
            case DType.F16:
                t.Backend.Upload<ushort>(t, values.Select(ScalarConversions.SingleToHalf).ToArray());
                break;
            case DType.BF16:
                t.Backend.Upload<ushort>(t, values.Select(ScalarConversions.SingleToBFloat16).ToArray());
                break;
            default:
                throw new ArgumentException($"'{t.Name}' is {t.DType}, not a float tensor");
        }
    }
}
