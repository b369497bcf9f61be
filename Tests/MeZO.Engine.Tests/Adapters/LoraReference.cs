using System.Text.Json;
using System.Text.Json.Nodes;
using MeZO.Engine.Adapters;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Models;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Adapters;

/// <summary>
/// LoRA written out apart from the engine: PEFT's tensor keys built from each architecture's module paths, random
/// non-zero A (r, in) and B (out, r) drawn on the host, and the merged weights W + (α/r)·B·A computed in double (for
/// GPT-2's Conv1D, stored (in, out), the transposed delta), so an adapted model can be compared with an edited checkpoint.
/// </summary>
internal static class LoraReference
{
    public const string Prefix = "base_model.model.";

    /// <summary>Every projection PEFT can adapt on each architecture, by its last path component.</summary>
    public static string[] AllProjections(string modelType) => modelType switch
    {
        "opt" => ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
        "gpt2" => ["c_attn", "c_proj", "c_fc"], // c_proj names attn.c_proj and mlp.c_proj
        _ => ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    };

    /// <summary>The module paths (transformers' names) of the projections a list of targets adapts, written per architecture.</summary>
    public static List<string> ModulePaths(string modelType, int layers, IEnumerable<string> targets)
    {
        var wanted = targets.ToHashSet();
        if (modelType == "gpt2" && (wanted.Remove("q_proj") | wanted.Remove("k_proj") | wanted.Remove("v_proj"))) wanted.Add("c_attn");
        var paths = new List<string>();
        for (int l = 0; l < layers; l++)
        {
            (string Name, string Path)[] modules = modelType switch
            {
                "opt" => [.. new[] { "q_proj", "k_proj", "v_proj", "out_proj" }.Select(n => (n, $"model.decoder.layers.{l}.self_attn.{n}")),
                    .. new[] { "fc1", "fc2" }.Select(n => (n, $"model.decoder.layers.{l}.{n}"))],
                "gpt2" => [("c_attn", $"transformer.h.{l}.attn.c_attn"), ("c_proj", $"transformer.h.{l}.attn.c_proj"),
                    ("c_fc", $"transformer.h.{l}.mlp.c_fc"), ("c_proj", $"transformer.h.{l}.mlp.c_proj")],
                _ => [.. new[] { "q_proj", "k_proj", "v_proj", "o_proj" }.Select(n => (n, $"model.layers.{l}.self_attn.{n}")),
                    .. new[] { "gate_proj", "up_proj", "down_proj" }.Select(n => (n, $"model.layers.{l}.mlp.{n}"))],
            };
            paths.AddRange(modules.Where(m => wanted.Contains(m.Name)).Select(m => m.Path));
        }
        return paths;
    }

    /// <summary>(in, out) of a projection from its stored base weight: nn.Linear stores (out, in), GPT-2's Conv1D (in, out).</summary>
    public static (int In, int Out) Features(TinyCheckpoint checkpoint, string path)
    {
        var w = checkpoint.Weights[path + ".weight"];
        return checkpoint.ModelType == "gpt2" ? (w.Shape[0], w.Shape[1]) : (w.Shape[1], w.Shape[0]);
    }

    /// <summary>
    /// Random A and B under PEFT's keys for <paramref name="paths"/>: A ~ N(0, 1/in) and B ~ N(0, 1/r), both non-zero,
    /// so with α/r of a few the delta is of the order of W itself and changes every logit visibly. Values are rounded
    /// to <paramref name="type"/>, the adapter's storage.
    /// </summary>
    public static SortedDictionary<string, ReferenceTensor> RandomTensors(TinyCheckpoint checkpoint, IEnumerable<string> paths, int rank,
        int seed, DType type = DType.F32)
    {
        var random = new Random(seed);
        var tensors = new SortedDictionary<string, ReferenceTensor>(StringComparer.Ordinal);
        foreach (string path in paths)
        {
            var (input, output) = Features(checkpoint, path);
            tensors[Prefix + path + ".lora_A.weight"] = Normal(random, [rank, input], 1 / Math.Sqrt(input), type);
            tensors[Prefix + path + ".lora_B.weight"] = Normal(random, [output, rank], 1 / Math.Sqrt(rank), type);
        }
        return tensors;
    }

    private static ReferenceTensor Normal(Random random, int[] shape, double deviation, DType type)
    {
        var values = new float[shape[0] * shape[1]];
        for (int i = 0; i < values.Length; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = ReferenceRounding.Round(type, (float)(deviation * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2)));
        }
        return new ReferenceTensor(shape, values);
    }

    /// <summary>
    /// The checkpoint's weights with every adapted W replaced by W + scale·B·A, summed in double and rounded once to
    /// float32; a Conv1D weight W (in, out) gets the transpose, W[i, o] += scale·Σ_k B[o, k]·A[k, i].
    /// </summary>
    public static Dictionary<string, ReferenceTensor> Merged(TinyCheckpoint checkpoint, IReadOnlyDictionary<string, ReferenceTensor> lora, double scale)
    {
        var merged = checkpoint.Weights.ToDictionary(w => w.Key, w => w.Value);
        bool conv1D = checkpoint.ModelType == "gpt2";
        foreach (var (key, a) in lora.Where(t => t.Key.EndsWith(".lora_A.weight", StringComparison.Ordinal)))
        {
            string path = key[Prefix.Length..^".lora_A.weight".Length];
            var b = lora[Prefix + path + ".lora_B.weight"];
            var w = checkpoint.Weights[path + ".weight"];
            int rank = a.Shape[0], inputs = a.Shape[1], outputs = b.Shape[0];
            Assert.That(w.Shape, Is.EqualTo(conv1D ? new[] { inputs, outputs } : new[] { outputs, inputs }), $"{path}: base weight shape");
            var values = new float[w.Values.Length];
            for (int o = 0; o < outputs; o++)
                for (int i = 0; i < inputs; i++)
                {
                    double delta = 0;
                    for (int k = 0; k < rank; k++) delta += (double)b.Values[o * rank + k] * a.Values[k * inputs + i];
                    int at = conv1D ? i * outputs + o : o * inputs + i;
                    values[at] = (float)(w.Values[at] + scale * delta);
                }
            merged[path + ".weight"] = new ReferenceTensor(w.Shape, values);
        }
        return merged;
    }

    /// <summary>A model folder beside the checkpoint's: its config.json and <paramref name="weights"/> in float32.</summary>
    public static string WriteFolder(TinyCheckpoint checkpoint, IReadOnlyDictionary<string, ReferenceTensor> weights, string folder)
    {
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(checkpoint.Folder, "config.json"), Path.Combine(folder, "config.json"));
        SafetensorsTestWriter.Write(Path.Combine(folder, "model.safetensors"), DType.F32, weights.OrderBy(w => w.Key, StringComparer.Ordinal));
        return folder;
    }

    /// <summary>Uploads host values into the adapter's tensors by PEFT name; the adapter must hold exactly those names and shapes.</summary>
    public static void Upload(LoraAdapter adapter, IReadOnlyDictionary<string, ReferenceTensor> tensors)
    {
        Assert.That(adapter.Parameters.Select(p => p.Name), Is.EquivalentTo(tensors.Keys), "the adapter's tensors under PEFT's keys");
        foreach (var p in adapter.Parameters)
        {
            Assert.That(p.Tensor.Shape.ToLongArray(), Is.EqualTo(tensors[p.Name].Shape.Select(d => (long)d).ToArray()), p.Name);
            HostValues.Write(p.Tensor, tensors[p.Name].Values);
        }
    }

    /// <summary>
    /// adapter_config.json as PEFT's LoraConfig.save_pretrained writes it for a causal LM: the keys of PEFT 0.13, and
    /// those later releases added (exclude_modules, lora_bias, eva/corda configs, trainable tokens, QALoRA, target
    /// parameters) at their defaults.
    /// </summary>
    public static JsonObject PeftConfig(int rank, double alpha, JsonNode targets, bool fanInFanOut, string? baseModel)
    {
        return new JsonObject
        {
            ["alpha_pattern"] = new JsonObject(),
            ["auto_mapping"] = null,
            ["base_model_name_or_path"] = baseModel,
            ["bias"] = "none",
            ["corda_config"] = null,
            ["eva_config"] = null,
            ["exclude_modules"] = null,
            ["fan_in_fan_out"] = fanInFanOut,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["layer_replication"] = null,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["loftq_config"] = new JsonObject(),
            ["lora_bias"] = false,
            ["lora_alpha"] = alpha,
            ["lora_dropout"] = 0.05,
            ["megatron_config"] = null,
            ["megatron_core"] = "megatron.core",
            ["modules_to_save"] = null,
            ["peft_type"] = "LORA",
            ["r"] = rank,
            ["rank_pattern"] = new JsonObject(),
            ["revision"] = null,
            ["qalora_group_size"] = 16,
            ["target_modules"] = targets,
            ["target_parameters"] = null,
            ["task_type"] = "CAUSAL_LM",
            ["trainable_token_indices"] = null,
            ["use_dora"] = false,
            ["use_qalora"] = false,
            ["use_rslora"] = false,
        };
    }

    /// <summary>Writes an adapter folder by hand: adapter_config.json and adapter_model.safetensors.</summary>
    public static string WriteAdapter(string folder, JsonObject config, IEnumerable<KeyValuePair<string, ReferenceTensor>> tensors, DType type = DType.F32)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "adapter_config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        SafetensorsTestWriter.Write(Path.Combine(folder, "adapter_model.safetensors"), type, tensors);
        return folder;
    }

    public static string TempFolder(string what) => Path.Combine(Path.GetTempPath(), $"mezo-lora-{what}-{Guid.NewGuid():N}");

    public static void Delete(params string[] folders)
    {
        foreach (string folder in folders)
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }

    /// <summary>A padded batch of four sequences (lengths 3, 17, 1, 8), its real rows and each row's next token as target.</summary>
    public static (TokenBatch Batch, int[] Rows, int[] Targets) Batch(int vocabSize, PaddingSide side)
    {
        var sequences = ParityRuns.RandomSequences(vocabSize, seed: 21, 3, 17, 1, 8);
        var batch = TokenBatch.Pack(sequences, side);
        int[] rows = ParityRuns.RealRows(batch);
        int[] targets = Enumerable.Range(0, batch.BatchSize).SelectMany(b => Enumerable.Range(0, sequences[b].Length)
            .Select(i => i + 1 < sequences[b].Length ? sequences[b][i + 1] : (7 * b + 5) % vocabSize)).ToArray();
        return (batch, rows, targets);
    }

    /// <summary>The oracle's log p(target | row) for each row.</summary>
    public static double[] OracleScores(NaiveTransformer oracle, TokenBatch batch, int[] rows, int[] targets, out double logitScale)
    {
        double[,,] logits = ParityRuns.OracleLogits(oracle, batch);
        logitScale = ParityRuns.LogitScale(logits, batch);
        var scores = new double[rows.Length];
        for (int i = 0; i < rows.Length; i++)
            scores[i] = NaiveTransformer.LogSoftmax(logits, rows[i] / batch.Length, rows[i] % batch.Length)[targets[i]];
        return scores;
    }

    public static byte[] StoredBytes(Tensor t)
    {
        var bytes = new byte[t.ByteCount];
        t.Backend.Download(t, 0, bytes);
        return bytes;
    }
}
