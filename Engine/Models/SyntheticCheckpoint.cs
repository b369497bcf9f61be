using MeZO.Engine.Checkpoints;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>
/// Writes a Hugging Face model folder with random weights for a given config.json: GPT-2-style initialisation
/// (N(0, 0.02) matrices, unit norm weights, zero biases) drawn from the Philox stream, so the same seed always writes
/// the same checkpoint. Used for benchmarks at real model shapes and for the bundled default model.
/// </summary>
public static class SyntheticCheckpoint
{
    public const float InitStd = 0.02f;

    public static void Write(string directory, string configJson, DType dtype, ulong seed)
    {
        var spec = ModelConfigReader.Parse(Path.Combine(directory, "config.json"), configJson);
        var tensors = new List<TensorToWrite>();
        ulong offset = 0;
        foreach (var w in WeightPlan.For(spec))
        {
            var values = new float[w.ElementCount];
            bool isNormWeight = w.Shape.Length == 1 && !w.Name.EndsWith(".bias", StringComparison.Ordinal);
            if (isNormWeight) Array.Fill(values, 1f);
            else if (w.Shape.Length > 1)
            {
                GaussianNoise.Fill(seed, offset, values);
                for (int i = 0; i < values.Length; i++) values[i] *= InitStd;
            }
            offset += (ulong)values.Length;
            tensors.Add(TensorToWrite.FromSingles(w.Name, dtype, w.Shape.Select(d => (long)d).ToArray(), values));
        }
        Directory.CreateDirectory(directory);
        SafetensorsWriter.Write(Path.Combine(directory, "model.safetensors"), tensors);
        File.WriteAllText(Path.Combine(directory, "config.json"), configJson);
    }
}
