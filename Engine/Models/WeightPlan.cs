using MeZO.Engine.Checkpoints;

namespace MeZO.Engine.Models;

/// <summary>One tensor the architecture expects: its Hugging Face name and shape.</summary>
public sealed record ExpectedWeight(string Name, int[] Shape)
{
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);
    public long[] LongShape => Array.ConvertAll(Shape, d => (long)d);
}

/// <summary>
/// Every tensor an <see cref="ArchitectureSpec"/> expects, with its shape, in the order the forward pass uses them.
/// Loading checks a checkpoint against this list, so a missing, extra or misshapen tensor is reported by name.
/// </summary>
public static class WeightPlan
{
    /// <summary>Checkpoint entries that are buffers, not parameters, and may be present: GPT-2's causal-mask buffers, rotary caches.</summary>
    public static bool IsToleratedBuffer(string name) =>
        name.EndsWith(".attn.bias", StringComparison.Ordinal) || name.EndsWith(".attn.masked_bias", StringComparison.Ordinal) ||
        name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal);

    /// <summary>
    /// Some checkpoints omit the wrapper prefix (OPT's "decoder.", GPT-2's bare "h.0"): the spec with whichever prefix
    /// the file has. Everything that looks tensors up by name in a checkpoint goes through this first, and so through
    /// <see cref="ConfigAgreement"/>: the plan below is as long as the layer count, which the checkpoint must confirm.
    /// </summary>
    public static ArchitectureSpec ResolvePrefix(CheckpointReader reader, ArchitectureSpec spec)
    {
        var n = spec.Names;
        string[] candidates = n.Prefix switch
        {
            "model.decoder." => ["model.decoder.", "decoder."],
            "transformer." => ["transformer.", ""],
            _ => [n.Prefix],
        };
        foreach (string prefix in candidates)
        {
            if (!reader.Contains(prefix + n.TokenEmbedding + ".weight")) continue;
            var resolved = spec with { Names = n with { Prefix = prefix, ModulePrefix = n.ModulePrefix } };
            ConfigAgreement.Check(reader, resolved);
            return resolved;
        }
        throw new InvalidInputException(
            $"{reader.Directory}: tensor '{n.Prefix}{n.TokenEmbedding}.weight' is missing (config.json's {spec.ModelType} architecture needs it)");
    }

    public static IReadOnlyList<ExpectedWeight> For(ArchitectureSpec s)
    {
        var n = s.Names;
        int c = s.HiddenSize, e = s.WordEmbeddingSize, f = s.IntermediateSize;
        var list = new List<ExpectedWeight>();
        void Add(string name, params int[] shape) => list.Add(new ExpectedWeight(name, shape));
        void Linear(string module, int outputs, int inputs, bool bias)
        {
            Add(module + ".weight", s.TransposedWeights ? [inputs, outputs] : [outputs, inputs]);
            if (bias) Add(module + ".bias", outputs);
        }
        void Norm(string module)
        {
            Add(module + ".weight", c);
            if (s.NormBias) Add(module + ".bias", c);
        }

        Add(n.Global(n.TokenEmbedding) + ".weight", s.VocabSize, e);
        if (n.PositionEmbedding is not null)
            Add(n.Global(n.PositionEmbedding) + ".weight", s.PositionRows, c);
        if (s.HasEmbeddingProjection)
        {
            Linear(n.Global(n.ProjectIn!), c, e, bias: false);
            Linear(n.Global(n.ProjectOut!), e, c, bias: false);
        }
        for (int l = 0; l < s.NumLayers; l++)
        {
            Norm(n.Layer(l, n.AttentionNorm));
            if (s.FusedQkv)
                Linear(n.Layer(l, n.FusedQkv!), s.FusedQkvWidth, c, s.QkvBias);
            else
            {
                Linear(n.Layer(l, n.Query!), s.QueryWidth, c, s.QkvBias);
                Linear(n.Layer(l, n.Key!), s.KvWidth, c, s.QkvBias);
                Linear(n.Layer(l, n.Value!), s.KvWidth, c, s.QkvBias);
            }
            Linear(n.Layer(l, n.AttentionOutput), c, s.QueryWidth, s.OutputBias);
            Norm(n.Layer(l, n.MlpNorm));
            if (s.Mlp == MlpKind.Gated) Linear(n.Layer(l, n.Gate!), f, c, s.MlpBias);
            Linear(n.Layer(l, n.Up), f, c, s.MlpBias);
            Linear(n.Layer(l, n.Down), c, f, s.MlpBias);
        }
        if (s.FinalNorm) Norm(n.Global(n.FinalNorm!));
        if (!s.TiedLmHead) Add(n.LmHead + ".weight", s.VocabSize, e);
        return list;
    }
}
