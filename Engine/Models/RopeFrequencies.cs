using System.Text.Json;

namespace MeZO.Engine.Models;

/// <summary>
/// Rotary inverse frequencies, as transformers' rope initialisation functions compute them:
/// inv_freq[i] = 1 / theta^(2i / R), then the scaling named by rope_scaling (none, linear, llama3), or by transformers 5's
/// rope_parameters.
/// </summary>
internal static class RopeFrequencies
{
    public static float[] Compute(ConfigJson c, int rotaryDim)
    {
        // transformers 5 writes one rope_parameters object (rope_type, rope_theta, the scaling keys) where earlier
        // versions wrote rope_theta and rope_scaling; read either.
        JsonElement? parameters = c.Object("rope_parameters");
        if (parameters is null && c.Has("rope_parameters"))
            throw c.Error("rope_parameters must be an object");
        if (c.Has("rope_scaling") && c.Object("rope_scaling") is null)
            throw c.Error("rope_scaling must be an object or null");
        JsonElement? scaling = c.Object("rope_scaling") ?? parameters;
        double theta = parameters is { } p && p.TryGetProperty("rope_theta", out var nested)
            ? nested.ValueKind == JsonValueKind.Number ? nested.GetDouble() : throw c.Error("rope_parameters.rope_theta must be a number")
            : c.Double("rope_theta", 10000.0);
        // A negative head_dim, hidden_size or partial_rotary_factor gives a negative width, which would size the array
        // below before the spec's validation could name the key.
        if (rotaryDim < 0)
            throw c.Error($"rotary width {rotaryDim} is negative (head_dim, or hidden_size / num_attention_heads, times partial_rotary_factor)");
        int half = rotaryDim / 2;
        var inv = new float[half];
        for (int i = 0; i < half; i++)
            // transformers computes base ** (arange(0, dim, 2).float() / dim) in float32, then 1.0 / that.
            inv[i] = 1f / MathF.Pow((float)theta, (2 * i) / (float)rotaryDim);

        if (scaling is null) return inv;
        string type = "default";
        if (scaling.Value.TryGetProperty("rope_type", out var t) || scaling.Value.TryGetProperty("type", out t))
            type = t.ValueKind == JsonValueKind.String ? t.GetString()! : throw c.Error($"rope_scaling type must be a string, is {t.GetRawText()}");
        double Get(string key) => scaling.Value.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number
            ? v.GetDouble() : throw c.Error($"rope_scaling.{key} is missing");
        switch (type)
        {
            case "default":
                return inv;
            case "linear":
            {
                float factor = (float)Get("factor");
                for (int i = 0; i < half; i++) inv[i] /= factor;
                return inv;
            }
            case "llama3":
            {
                double factor = Get("factor"), low = Get("low_freq_factor"), high = Get("high_freq_factor");
                double original = Get("original_max_position_embeddings");
                double lowWavelength = original / low, highWavelength = original / high;
                for (int i = 0; i < half; i++)
                {
                    double wavelength = 2 * Math.PI / inv[i];
                    if (wavelength > lowWavelength) inv[i] = (float)(inv[i] / factor);
                    else if (wavelength >= highWavelength)
                    {
                        double smooth = (original / wavelength - low) / (high - low);
                        inv[i] = (float)((1 - smooth) * inv[i] / factor + smooth * inv[i]);
                    }
                }
                return inv;
            }
            default:
                throw c.Error($"rope_scaling type '{type}' is not supported (default, linear, llama3)");
        }
    }
}
