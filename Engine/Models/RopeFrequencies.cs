using System.Text.Json;

namespace MeZO.Engine.Models;

/// <summary>
/// Rotary inverse frequencies, as transformers' rope initialisation functions compute them:
/// inv_freq[i] = 1 / theta^(2i / R), then the scaling named by rope_scaling (none, linear, llama3), or by transformers 5's
/// rope_parameters. <see cref="Read"/> takes and checks every key while config.json is open; <see cref="Compute"/>
/// builds the R/2 values only when the model first needs them, after the checkpoint has confirmed the head width, so
/// an absurd head_dim never allocates anything.
/// </summary>
internal sealed record RopeFrequencies(double Theta, string Type, double Factor, double LowFreqFactor, double HighFreqFactor,
    double OriginalMaxPositions)
{
    public static RopeFrequencies Read(ConfigJson c)
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
        // theta^(2i/R) is taken in float32: a base that is not positive and finite there has no frequencies.
        if (!((float)theta > 0) || !float.IsFinite((float)theta))
            throw c.Error($"rope_theta must be a positive finite number in float32, is {theta:R}");

        if (scaling is null) return new RopeFrequencies(theta, "default", 1, 0, 0, 0);
        string type = "default";
        if (scaling.Value.TryGetProperty("rope_type", out var t) || scaling.Value.TryGetProperty("type", out t))
            type = t.ValueKind == JsonValueKind.String ? t.GetString()! : throw c.Error($"rope_scaling type must be a string, is {t.GetRawText()}");
        double Positive(string key)
        {
            double v = scaling.Value.TryGetProperty(key, out var e) && e.ValueKind == JsonValueKind.Number
                ? e.GetDouble() : throw c.Error($"rope_scaling.{key} is missing");
            return v > 0 && double.IsFinite(v) ? v : throw c.Error($"rope_scaling.{key} must be a positive finite number, is {v:R}");
        }
        switch (type)
        {
            case "default":
                return new RopeFrequencies(theta, type, 1, 0, 0, 0);
            case "linear":
                return new RopeFrequencies(theta, type, Positive("factor"), 0, 0, 0);
            case "llama3":
            {
                double factor = Positive("factor"), low = Positive("low_freq_factor"), high = Positive("high_freq_factor");
                if (high <= low)
                    throw c.Error($"rope_scaling.high_freq_factor ({high:R}) must exceed low_freq_factor ({low:R})");
                return new RopeFrequencies(theta, type, factor, low, high, Positive("original_max_position_embeddings"));
            }
            default:
                throw c.Error($"rope_scaling type '{type}' is not supported (default, linear, llama3)");
        }
    }

    /// <summary>The R/2 inverse frequencies for rotary width <paramref name="rotaryDim"/>, scaling applied.</summary>
    public float[] Compute(int rotaryDim)
    {
        int half = rotaryDim / 2;
        var inv = new float[half];
        for (int i = 0; i < half; i++)
            // transformers computes base ** (arange(0, dim, 2).float() / dim) in float32, then 1.0 / that.
            inv[i] = 1f / MathF.Pow((float)Theta, (2 * i) / (float)rotaryDim);
        switch (Type)
        {
            case "linear":
            {
                float factor = (float)Factor;
                for (int i = 0; i < half; i++) inv[i] /= factor;
                break;
            }
            case "llama3":
            {
                double lowWavelength = OriginalMaxPositions / LowFreqFactor, highWavelength = OriginalMaxPositions / HighFreqFactor;
                for (int i = 0; i < half; i++)
                {
                    double wavelength = 2 * Math.PI / inv[i];
                    if (wavelength > lowWavelength) inv[i] = (float)(inv[i] / Factor);
                    else if (wavelength >= highWavelength)
                    {
                        double smooth = (OriginalMaxPositions / wavelength - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
                        inv[i] = (float)((1 - smooth) * inv[i] / Factor + smooth * inv[i]);
                    }
                }
                break;
            }
        }
        return inv;
    }
}
