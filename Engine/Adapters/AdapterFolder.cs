using System.Text.Json;
using System.Text.Json.Nodes;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Adapters;

/// <summary>The kinds of adapter the engine trains, by PEFT's peft_type.</summary>
public enum AdapterKind
{
    Lora,
    Prefix,
}

/// <summary>What an adapter folder's adapter_config.json says, checked.</summary>
public sealed record AdapterDescription(string Directory, AdapterKind Kind, string? BaseModel, LoraConfig? Lora, int PrefixTokens);

/// <summary>
/// Adapters in Hugging Face PEFT's folder format: adapter_config.json beside adapter_model.safetensors, tensors under
/// PEFT's names (<see cref="PeftNames"/>), so PEFT's PeftModel.from_pretrained loads what this writes and the engine
/// loads what PEFT writes. Only what the engine computes exactly as PEFT does is accepted; any other setting (bias
/// training, DoRA, rsLoRA, per-module ranks, extra trained modules) is refused by name rather than ignored.
/// </summary>
public static class AdapterFolder
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";

    /// <summary>Whether a folder holds an adapter rather than a model.</summary>
    public static bool Holds(string directory) => File.Exists(Path.Combine(directory, ConfigFile));

    /// <summary>Reads and checks adapter_config.json; every problem is an <see cref="InvalidInputException"/> naming the file.</summary>
    public static AdapterDescription Describe(string directory)
    {
        string path = Path.Combine(Path.GetFullPath(directory), ConfigFile);
        if (!File.Exists(path))
            throw new InvalidInputException(System.IO.Directory.Exists(directory)
                ? $"{directory}: no {ConfigFile}; not a PEFT adapter folder"
                : $"{directory}: no such adapter folder");
        JsonObject root;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            if (JsonText.Problem(document.RootElement) is { } problem) throw new InvalidInputException($"{path}: {problem}");
            // A repeated key would throw ArgumentException from JsonNode's dictionary: refused here, once every key is
            // known to decode (checking duplicates decodes keys, which throws InvalidOperationException on a lone surrogate).
            root = JsonNode.Parse(document.RootElement.GetRawText(), documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }) as JsonObject
                ?? throw new InvalidInputException($"{path}: expected a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: not valid JSON ({e.Message})");
        }
        string type = String(root, "peft_type", path) ?? throw new InvalidInputException($"{path}: peft_type is missing");
        string? baseModel = String(root, "base_model_name_or_path", path);
        return type switch
        {
            "LORA" => new AdapterDescription(directory, AdapterKind.Lora, baseModel, ReadLora(root, path), 0),
            "PREFIX_TUNING" => new AdapterDescription(directory, AdapterKind.Prefix, baseModel, null, ReadPrefix(root, path)),
            _ => throw new InvalidInputException($"{path}: peft_type '{type}' is not supported (LORA and PREFIX_TUNING are)"),
        };
    }

    private static LoraConfig ReadLora(JsonObject root, string path)
    {
        Unsupported(root, path, "bias", "none");
        Unsupported(root, path, "use_dora", false);
        Unsupported(root, path, "use_rslora", false);
        foreach (string key in new[] { "modules_to_save", "layers_to_transform", "layers_pattern" })
            if (root[key] is JsonNode node && !(node is JsonArray { Count: 0 }))
                throw new InvalidInputException($"{path}: {key} is set; the engine adapts every layer and trains no other module");
        Unsupported(root, path, "lora_bias", false);
        foreach (string key in new[] { "exclude_modules", "layer_replication", "trainable_token_indices", "target_parameters" })
            if (root[key] is JsonNode node && node is not (JsonArray { Count: 0 } or JsonObject { Count: 0 }))
                throw new InvalidInputException($"{path}: {key} is not supported (LoRA on exactly the target_modules of every layer)");
        foreach (string key in new[] { "rank_pattern", "alpha_pattern" })
            if (root[key] is JsonObject { Count: > 0 })
                throw new InvalidInputException($"{path}: {key} is not supported (one r and lora_alpha for every module)");
        int rank = Int(root, "r", path) ?? throw new InvalidInputException($"{path}: r is missing");
        double alpha = Number(root, "lora_alpha", path) ?? 8; // PEFT's LoraConfig default, whatever r is
        try
        {
            return root["target_modules"] switch
            {
                JsonArray list => new LoraConfig(rank, alpha, list.Select(t => t?.GetValueKind() == JsonValueKind.String ? t.GetValue<string>()
                    : throw new InvalidInputException($"{path}: target_modules must hold names")).ToArray()),
                JsonValue v when v.GetValueKind() == JsonValueKind.String => new LoraConfig(rank, alpha, [], v.GetValue<string>()),
                _ => throw new InvalidInputException($"{path}: target_modules must be a list of module names or a pattern"),
            };
        }
        catch (InvalidInputException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new InvalidInputException($"{path}: {e.Message}");
        }
    }

    private static int ReadPrefix(JsonObject root, string path)
    {
        Unsupported(root, path, "prefix_projection", false);
        int tokens = Int(root, "num_virtual_tokens", path) ?? throw new InvalidInputException($"{path}: num_virtual_tokens is missing");
        if (tokens <= 0) throw new InvalidInputException($"{path}: num_virtual_tokens must be positive (got {tokens})");
        return tokens;
    }

    /// <summary>
    /// Loads a LoRA adapter folder onto <paramref name="model"/>: the config's targets must resolve on this model and the
    /// file must hold exactly their A and B at PEFT's shapes; the first tensor that does not fit is named. The adapter
    /// keeps the file's dtype (float32 unless the file mixes dtypes).
    /// </summary>
    public static LoraAdapter LoadLora(string directory, Transformer model)
    {
        var description = Describe(directory);
        if (description.Lora is not { } config)
            throw new InvalidInputException($"{Path.Combine(directory, ConfigFile)}: peft_type says a {description.Kind} adapter, not LoRA");
        CheckBase(description, model);
        using var file = OpenWeights(directory);
        var types = file.Entries.Select(e => e.DType).Distinct().ToArray();
        var adapter = LoraAdapter.Create(model, config, types.Length == 1 && types[0].IsFloatingPoint() ? types[0] : DType.F32);
        try
        {
            Upload(file, adapter.Parameters, model.Directory);
            return adapter;
        }
        catch
        {
            adapter.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Overwrites <paramref name="parameters"/> with the same-named tensors of an adapter folder written for them (a
    /// run's checkpoint or best adapter): names, shapes and dtypes must agree, else the tensor is named.
    /// </summary>
    public static void Restore(string directory, IReadOnlyList<NamedTensor> parameters)
    {
        using var file = OpenWeights(directory);
        foreach (var p in parameters)
            if (file.TryGetEntry(p.Name, out var entry) && entry.DType != p.Tensor.DType)
                throw new InvalidInputException($"{file.Path}: tensor '{p.Name}' is {entry.DType}, the adapter holds {p.Tensor.DType}");
        Upload(file, parameters, null);
    }

    private static void Upload(SafetensorsFile file, IReadOnlyList<NamedTensor> parameters, string? modelDirectory)
    {
        var expected = parameters.ToDictionary(p => p.Name, StringComparer.Ordinal);
        foreach (var entry in file.Entries)
            if (!expected.ContainsKey(entry.Name))
                throw new InvalidInputException(
                    $"{file.Path}: tensor '{entry.Name}' belongs to no module the adapter config targets{(modelDirectory is null ? "" : $" on {modelDirectory}")}");
        using var staging = new StagingBuffer(StagingBuffer.DefaultChunkBytes);
        foreach (var p in parameters)
        {
            if (!file.TryGetEntry(p.Name, out var entry))
                throw new InvalidInputException($"{file.Path}: tensor '{p.Name}' is missing");
            long[] shape = p.Tensor.Shape.ToLongArray();
            if (!entry.Shape.SequenceEqual(shape))
                throw new InvalidInputException(
                    $"{file.Path}: tensor '{p.Name}' has shape ({string.Join(", ", entry.Shape)}) but the base model needs ({string.Join(", ", shape)})");
            if (!entry.DType.IsFloatingPoint())
                throw new InvalidInputException($"{file.Path}: tensor '{p.Name}' is {entry.DType}; adapter tensors must be F32, F16 or BF16");
            WeightCopy.Upload(new CheckpointTensor(file, entry), p.Tensor, staging);
        }
    }

    /// <summary>Writes a LoRA adapter as PEFT's save_pretrained does, atomically.</summary>
    public static void SaveLora(string directory, LoraAdapter adapter, string baseModel, IEnumerable<string> extraFiles)
    {
        var first = adapter.Modules[0];
        var config = new JsonObject
        {
            ["base_model_name_or_path"] = baseModel,
            ["bias"] = "none",
            ["fan_in_fan_out"] = first.BaseTransposed,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["lora_alpha"] = adapter.Config.Alpha,
            ["lora_dropout"] = 0.0,
            ["modules_to_save"] = null,
            ["peft_type"] = "LORA",
            ["r"] = adapter.Rank,
            ["revision"] = null,
            ["target_modules"] = adapter.Config.TargetPattern is { } pattern
                ? JsonValue.Create(pattern)
                : new JsonArray(adapter.TargetNames.Select(t => (JsonNode?)JsonValue.Create(t)).ToArray()),
            ["task_type"] = "CAUSAL_LM",
        };
        Save(directory, adapter.Parameters, config, extraFiles);
    }

    /// <summary>
    /// Writes a prefix as PEFT's save_pretrained writes PREFIX_TUNING for a causal LM: token_dim and num_attention_heads
    /// are the key/value width and heads, as PEFT sets them for a model with num_key_value_heads (the same as the
    /// hidden size and heads without GQA), so PEFT views prompt_embeddings exactly as <see cref="PrefixAdapter.Embeddings"/> is laid out.
    /// </summary>
    public static void SavePrefix(string directory, PrefixAdapter prefix, string baseModel, IEnumerable<string> extraFiles)
    {
        var config = new JsonObject
        {
            ["base_model_name_or_path"] = baseModel,
            ["encoder_hidden_size"] = prefix.KvWidth,
            ["inference_mode"] = true,
            ["num_attention_heads"] = prefix.KvHeads,
            ["num_layers"] = prefix.Layers,
            ["num_transformer_submodules"] = 1,
            ["num_virtual_tokens"] = prefix.Tokens,
            ["peft_type"] = "PREFIX_TUNING",
            ["prefix_projection"] = false,
            ["revision"] = null,
            ["task_type"] = "CAUSAL_LM",
            ["token_dim"] = prefix.KvWidth,
        };
        Save(directory, prefix.Parameters, config, extraFiles);
    }

    /// <summary>
    /// Loads a PREFIX_TUNING adapter folder for <paramref name="model"/>: its layers and key width must be the model's
    /// and prompt_embeddings must be (num_virtual_tokens, layers·2·width); what does not fit is named.
    /// </summary>
    public static PrefixAdapter LoadPrefix(string directory, Transformer model)
    {
        var description = Describe(directory);
        if (description.Kind != AdapterKind.Prefix)
            throw new InvalidInputException($"{Path.Combine(directory, ConfigFile)}: peft_type says a {description.Kind} adapter, not prefix tuning");
        CheckBase(description, model);
        using var file = OpenWeights(directory);
        var prefix = PrefixAdapter.Create(model.Spec, model.Backend, description.PrefixTokens);
        try
        {
            Upload(file, prefix.Parameters, model.Directory);
            return prefix;
        }
        catch
        {
            prefix.Dispose();
            throw;
        }
    }

    /// <summary>Writes the tensors and the config; shared by both adapter kinds.</summary>
    internal static void Save(string directory, IReadOnlyList<NamedTensor> parameters, JsonObject config, IEnumerable<string> extraFiles)
    {
        using var staging = new StagingBuffer(StagingBuffer.DefaultChunkBytes);
        var tensors = parameters.Select(p => TensorToWrite.FromWriter(p.Name, p.Tensor.DType, p.Tensor.Shape.ToLongArray(),
            stream => WeightCopy.Download(p.Tensor, stream, staging))).ToArray();
        string json = config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
        CheckpointWriter.WriteFolder(directory, WeightsFile, tensors, new Dictionary<string, string> { [ConfigFile] = json }, extraFiles);
    }

    /// <summary>
    /// The adapter's base_model_name_or_path against the model it is applied to: a local folder must hold the same
    /// config.json; a hub name ("facebook/opt-125m") must end in the model folder's name. No name: nothing to check.
    /// </summary>
    public static void CheckBase(AdapterDescription adapter, Transformer model)
    {
        if (string.IsNullOrEmpty(adapter.BaseModel)) return;
        string config = Path.Combine(adapter.BaseModel, "config.json");
        bool fits = File.Exists(config)
            ? File.ReadAllBytes(config).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(model.Directory, "config.json")))
            : adapter.BaseModel.TrimEnd('/').Split('/')[^1] == Path.GetFileName(Path.TrimEndingDirectorySeparator(model.Directory));
        if (!fits)
            throw new InvalidInputException(
                $"{Path.Combine(adapter.Directory, ConfigFile)}: the adapter was trained on '{adapter.BaseModel}', which does not fit {model.Directory} " +
                "(edit base_model_name_or_path if the model was only moved or renamed)");
    }

    private static SafetensorsFile OpenWeights(string directory)
    {
        string path = Path.Combine(directory, WeightsFile);
        if (!File.Exists(path))
            throw new InvalidInputException(File.Exists(Path.Combine(directory, "adapter_model.bin"))
                ? $"{directory}: only adapter_model.bin, a pickle; save the adapter with safe_serialization=True (PEFT's default)"
                : $"{directory}: {WeightsFile} is missing");
        return SafetensorsFile.Open(path);
    }

    private static void Unsupported(JsonObject root, string path, string key, JsonNode? supported)
    {
        if (root[key] is not JsonNode value || value.GetValueKind() == JsonValueKind.Null) return;
        if (!JsonNode.DeepEquals(value, supported))
            throw new InvalidInputException($"{path}: {key} = {value.ToJsonString()} is not supported (only {supported!.ToJsonString()})");
    }

    private static string? String(JsonObject root, string key, string path) => root[key] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonValue v when v.GetValueKind() == JsonValueKind.Null => null,
        _ => throw new InvalidInputException($"{path}: {key} must be a string"),
    };

    private static double? Number(JsonObject root, string key, string path) => root[key] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => v.GetValue<double>(),
        _ => throw new InvalidInputException($"{path}: {key} must be a number"),
    };

    private static int? Int(JsonObject root, string key, string path) =>
        Number(root, key, path) is double d ? d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue ? (int)d
            : throw new InvalidInputException($"{path}: {key} must be a whole number (got {d})") : null;
}
