using MeZO.Engine.Checkpoints;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>How a synthetic checkpoint's matrices are drawn.</summary>
public enum SyntheticInit
{
    /// <summary>GPT-2's N(0, 0.02) for every matrix: the shape of a real model at the start of pretraining.</summary>
    Gpt2,
    /// <summary>
    /// N(0, 1/fan_in) for every matrix (embeddings: fan_in = their width): each layer passes on its input's scale, so
    /// a random model's output depends on all of its input rather than mostly on the last token's embedding.
    /// </summary>
    FanIn,
}

/// <summary>
/// Writes a Hugging Face model folder with random weights for a given config.json (unit norm weights, zero biases,
/// random matrices) drawn from the Philox stream, so the same seed always writes the same checkpoint. Used for
/// benchmarks at real model shapes and for the bundled default model.
/// </summary>
public static class SyntheticCheckpoint
{
    public static void Write(string directory, string configJson, DType dtype, ulong seed, SyntheticInit init = SyntheticInit.Gpt2)
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
                // nn.Linear weights are (out, in); embeddings (rows, width); GPT-2's Conv1D (in, out).
                int fanIn = spec.TransposedWeights && !w.Name.Contains("wte") && !w.Name.Contains("wpe") ? w.Shape[0] : w.Shape[1];
                float std = init == SyntheticInit.Gpt2 ? 0.02f : 1f / MathF.Sqrt(fanIn);
                for (int i = 0; i < values.Length; i++) values[i] *= std;
            }
            offset += (ulong)values.Length;
            tensors.Add(TensorToWrite.FromSingles(w.Name, dtype, w.LongShape, values));
        }
        Directory.CreateDirectory(directory);
        SafetensorsWriter.Write(Path.Combine(directory, "model.safetensors"), tensors);
        File.WriteAllText(Path.Combine(directory, "config.json"), configJson);
    }
}
