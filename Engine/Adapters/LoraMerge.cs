using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Adapters;

/// <summary>
/// Folds a LoRA adapter into its base weights, W ← W + (α/r)·B·A (transposed for a Conv1D weight, PEFT's
/// fan_in_fan_out), rounded once to the base's dtype, so the merged model computes what base + adapter computes
/// without the bypass. The product is accumulated in double on the host, one adapted weight at a time.
/// </summary>
public static class LoraMerge
{
    public static void Into(LoraAdapter adapter)
    {
        float scale = adapter.Config.Scale;
        foreach (var m in adapter.Modules)
        {
            float[] w = HostValues.Read(m.Base), a = HostValues.Read(m.A), b = HostValues.Read(m.B);
            int r = m.A.Shape[0], inputs = m.InFeatures, outputs = m.OutFeatures;
            var row = new double[inputs];
            for (int o = 0; o < outputs; o++)
            {
                Array.Clear(row);
                for (int k = 0; k < r; k++)
                {
                    double bok = b[o * r + k];
                    if (bok == 0) continue;
                    for (int i = 0; i < inputs; i++) row[i] += bok * a[k * inputs + i];
                }
                for (int i = 0; i < inputs; i++)
                {
                    long at = m.BaseTransposed ? (long)i * outputs + o : (long)o * inputs + i;
                    w[at] = (float)(w[at] + scale * row[i]);
                }
            }
            HostValues.Write(m.Base, w);
        }
    }
}
