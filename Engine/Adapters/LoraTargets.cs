using System.Text.RegularExpressions;
using MeZO.Engine.Models;

namespace MeZO.Engine.Adapters;

/// <summary>A projection LoRA may adapt: its module path, layer, base weight and nn.Linear sizes.</summary>
public readonly record struct AdaptableModule(string Path, int Layer, Tensor Base, int InFeatures, int OutFeatures);

/// <summary>
/// Resolves LoRA's target_modules against a model as PEFT does: a module whose path equals a name or ends in "." + name
/// (or, for a pattern, whose whole path matches it). GPT-2 computes q, k and v in one Conv1D, c_attn, so there q_proj,
/// k_proj and v_proj all name c_attn, as PEFT's own default targets for GPT-2 do.
/// </summary>
public static class LoraTargets
{
    private static readonly string[] FusedParts = ["q_proj", "k_proj", "v_proj"];

    /// <summary>Every projection of every layer, in layer order.</summary>
    public static IReadOnlyList<AdaptableModule> Adaptable(ModelWeights weights)
    {
        var s = weights.Spec;
        var n = s.Names;
        int c = s.HiddenSize, f = s.IntermediateSize;
        var list = new List<AdaptableModule>();
        for (int l = 0; l < s.NumLayers; l++)
        {
            var w = weights.Layers[l];
            void Add(string? module, Tensor? tensor, int inputs, int outputs)
            {
                if (module is not null && tensor is not null) list.Add(new AdaptableModule(n.LayerModule(l, module), l, tensor, inputs, outputs));
            }
            Add(n.Query, w.Query, c, s.QueryWidth);
            Add(n.Key, w.Key, c, s.KvWidth);
            Add(n.Value, w.Value, c, s.KvWidth);
            Add(n.FusedQkv, w.FusedQkv, c, s.FusedQkvWidth);
            Add(n.AttentionOutput, w.AttentionOutput, s.QueryWidth, c);
            Add(n.Gate, w.Gate, c, f);
            Add(n.Up, w.Up, c, f);
            Add(n.Down, w.Down, f, c);
        }
        return list;
    }

    /// <summary>The modules the config targets, in layer order; an error listing the model's module names when none match.</summary>
    public static IReadOnlyList<AdaptableModule> Resolve(ModelWeights weights, LoraConfig config, string modelDirectory)
    {
        var all = Adaptable(weights);
        Func<string, bool> targeted;
        if (config.TargetPattern is { } pattern)
        {
            Regex regex;
            try
            {
                regex = new Regex($"^(?:{pattern})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                throw new InvalidInputException($"target_modules '{pattern}' is not a valid regular expression ({e.Message})");
            }
            targeted = regex.IsMatch;
        }
        else
        {
            var names = Names(weights.Spec, config);
            targeted = path => names.Any(t => Matches(path, t));
        }
        var chosen = all.Where(m => targeted(m.Path)).ToArray();
        string available = string.Join(", ", all.Select(m => LastPart(m.Path)).Distinct());
        if (chosen.Length == 0)
        {
            string asked = config.TargetPattern ?? string.Join(",", config.TargetModules);
            throw new InvalidInputException(
                $"LoRA targets '{asked}' match no module of {modelDirectory}; its {weights.Spec.ModelType} layers have: {available}");
        }
        // A listed name that matches nothing is a typo or a module this engine does not adapt (lm_head): adapting the
        // rest without a word would train something other than what was asked.
        if (config.TargetPattern is null && Names(weights.Spec, config).FirstOrDefault(t => !all.Any(m => Matches(m.Path, t))) is { } unmatched)
            throw new InvalidInputException(
                $"LoRA target '{unmatched}' matches no module of {modelDirectory}; its {weights.Spec.ModelType} layers have: {available}");
        return chosen;
    }

    /// <summary>The config's target names as this architecture has them (GPT-2: q_proj, k_proj, v_proj → c_attn), once each.</summary>
    public static IReadOnlyList<string> Names(ArchitectureSpec spec, LoraConfig config) =>
        config.TargetModules.Select(t => spec.FusedQkv && FusedParts.Contains(t) ? LastPart(spec.Names.FusedQkv!) : t).Distinct().ToArray();

    private static bool Matches(string path, string target) => path == target || path.EndsWith("." + target, StringComparison.Ordinal);

    private static string LastPart(string path) => path[(path.LastIndexOf('.') + 1)..];
}
