using System.Globalization;
using MeZO.Engine.Checkpoints;

namespace MeZO.Engine.Models;

/// <summary>
/// config.json's sizes against the tensors the checkpoint actually holds, from the safetensors headers alone, before
/// anything proportional to the config is planned or allocated: a layer count of 10⁹ or a width the weights do not
/// have is refused in microseconds, naming config.json and the key. Each size is read off one tensor that must carry
/// it; a tensor that is missing or of the wrong rank is left to the weight plan's check, which names it.
/// </summary>
internal static class ConfigAgreement
{
    public static void Check(CheckpointReader reader, ArchitectureSpec spec)
    {
        string config = Path.Combine(reader.Directory, "config.json");
        var n = spec.Names;
        var k = spec.Keys;

        int layers = CountLayers(reader, n);
        if (layers != spec.NumLayers)
            throw new ModelConfigException(config, $"'{k.NumLayers}' is {spec.NumLayers}, but the checkpoint holds {layers} layers");

        void Expect(string tensor, int axis, long expected, string key, long configValue, int offset = 0)
        {
            if (!reader.Contains(tensor)) return;
            long[] shape = reader.Get(tensor).Shape;
            if (axis >= shape.Length || shape[axis] == expected) return;
            throw new ModelConfigException(config,
                $"'{key}' is {configValue}, but tensor '{tensor}' ({string.Join(", ", shape)}) implies {shape[axis] - offset}");
        }

        string embedding = n.Global(n.TokenEmbedding) + ".weight";
        Expect(embedding, 0, spec.VocabSize, k.VocabSize, spec.VocabSize);
        Expect(embedding, 1, spec.WordEmbeddingSize, k.WordEmbeddingSize, spec.WordEmbeddingSize);
        Expect(n.Layer(0, n.AttentionNorm) + ".weight", 0, spec.HiddenSize, k.HiddenSize, spec.HiddenSize);
        // The MLP's first projection: nn.Linear stores (F, C), GPT-2's Conv1D (C, F).
        Expect(n.Layer(0, n.Up) + ".weight", spec.TransposedWeights ? 1 : 0, spec.IntermediateSize, k.IntermediateSize, spec.IntermediateSize);
        if (n.PositionEmbedding is not null)
            Expect(n.Global(n.PositionEmbedding) + ".weight", 0, spec.PositionRows, k.MaxPositions, spec.MaxPositions, spec.LearnedPositionOffset);
        if (n.Query is not null)
        {
            Expect(n.Layer(0, n.Query) + ".weight", 0, spec.QueryWidth, $"{k.NumHeads}' × 'head_dim", spec.QueryWidth);
            Expect(n.Layer(0, n.Key!) + ".weight", 0, spec.KvWidth, "num_key_value_heads' × 'head_dim", spec.KvWidth);
        }
    }

    /// <summary>The distinct layer indices among the tensor names (prefix + "layers.{i}." or "h.{i}.").</summary>
    private static int CountLayers(CheckpointReader reader, WeightNames n)
    {
        string format = n.LayerFormat;
        string before = n.Prefix + format[..format.IndexOf("{0}", StringComparison.Ordinal)];
        var indices = new HashSet<int>();
        foreach (string name in reader.TensorNames)
        {
            if (!name.StartsWith(before, StringComparison.Ordinal)) continue;
            int end = name.IndexOf('.', before.Length);
            if (end > before.Length && int.TryParse(name.AsSpan(before.Length, end - before.Length), NumberStyles.None,
                    CultureInfo.InvariantCulture, out int index))
                indices.Add(index);
        }
        return indices.Count;
    }
}
