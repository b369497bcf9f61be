using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MeZO.Engine.Adapters;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Models;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Adapters;

/// <summary>
/// PEFT's adapter folder: one written by hand as PEFT's save_pretrained writes it loads onto the model and scores as
/// the merged weights do; what the engine saves reads back to the same bytes under PEFT's config keys and tensor
/// names; and each kind of bad folder is one <see cref="InvalidInputException"/> naming the file or tensor at fault.
/// </summary>
[TestFixture]
public sealed class LoraAdapterFolderTests
{
    private const int Rank = 4;
    private const double Alpha = 8;

    public static IEnumerable<TestCaseData> PeftFolders()
    {
        yield return new TestCaseData(TinyVariant.LlamaUntied, new JsonArray("q_proj", "v_proj"), DType.F32).SetName("Llama, target_modules [q_proj, v_proj]");
        yield return new TestCaseData(TinyVariant.OptPreLayerNorm, new JsonArray("v_proj", "q_proj", "fc2"), DType.F32).SetName("OPT, q_proj, v_proj and fc2");
        yield return new TestCaseData(TinyVariant.Gpt2, new JsonArray("c_attn"), DType.F32).SetName("GPT-2, c_attn (fan_in_fan_out)");
        yield return new TestCaseData(TinyVariant.Mistral, JsonValue.Create(@".*\.(q_proj|down_proj)"), DType.F32).SetName("Mistral, target_modules as a regular expression");
        yield return new TestCaseData(TinyVariant.Qwen2, new JsonArray("k_proj", "o_proj"), DType.BF16).SetName("Qwen2, a bfloat16 adapter file");
    }

    [TestCaseSource(nameof(PeftFolders))]
    public void APeftFolderScoresAsTheMergedWeights(TinyVariant variant, JsonNode targets, DType fileType)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        string[] names = targets is JsonArray list ? list.Select(t => (string)t!).ToArray()
            : LoraReference.AllProjections(checkpoint.ModelType).Where(n => n is "q_proj" or "down_proj").ToArray();
        var paths = LoraReference.ModulePaths(checkpoint.ModelType, checkpoint.Options.Layers, names);
        var lora = LoraReference.RandomTensors(checkpoint, paths, Rank, seed: 8, fileType);
        Assert.That(lora.Keys.First(), Does.StartWith(checkpoint.ModelType switch
        {
            "opt" => "base_model.model.model.decoder.layers.0.",
            "gpt2" => "base_model.model.transformer.h.0.attn.c_attn.lora_",
            _ => "base_model.model.model.layers.0.",
        }), "the fixture's keys are PEFT's");
        var merged = LoraReference.Merged(checkpoint, lora, Alpha / Rank);
        string folder = LoraReference.WriteAdapter(LoraReference.TempFolder("peft"),
            LoraReference.PeftConfig(Rank, Alpha, targets.DeepClone(), fanInFanOut: variant == TinyVariant.Gpt2, baseModel: checkpoint.Folder),
            lora, fileType);
        try
        {
            using var backend = new CpuBackend();
            using var model = Transformer.Load(checkpoint.Folder, backend);
            using var adapter = AdapterFolder.LoadLora(folder, model);
            Assert.That(adapter.DType, Is.EqualTo(fileType), "the adapter keeps the file's dtype");
            Assert.That(adapter.Modules.Select(m => m.Path), Is.EquivalentTo(paths));
            model.Lora = adapter;
            var (batch, rows, ids) = LoraReference.Batch(checkpoint.VocabSize, PaddingSide.Right);
            var plain = OracleScoresOf(checkpoint, checkpoint.Weights, batch, rows, ids, out _);
            var expected = OracleScoresOf(checkpoint, merged, batch, rows, ids, out double scale);
            var actual = ParityRuns.EngineScores(model, batch, rows, ids);
            double tolerance = ParityRuns.Tolerance(scale);
            for (int i = 0; i < rows.Length; i++)
                Assert.That(actual[i], Is.EqualTo(expected[i]).Within(tolerance), $"row {rows[i]}");
            Assert.That(rows.Select((_, i) => Math.Abs(expected[i] - plain[i])).Max(), Is.GreaterThan(1000 * tolerance), "the adapter changes the scores");
        }
        finally
        {
            LoraReference.Delete(folder);
        }
    }

    [Test]
    public void AConfigWithoutLoraAlphaTakesPeftsDefaultOfEight()
    {
        // PEFT's LoraConfig has lora_alpha = 8 whatever r is, so r = 4 without lora_alpha scales the bypass by 2.
        using var folder = new BadFolder((config, _) => config.Remove("lora_alpha"));
        var description = AdapterFolder.Describe(folder.Folder);
        Assert.That(description.Lora!.Rank, Is.EqualTo(Rank));
        Assert.That(description.Lora.Alpha, Is.EqualTo(8));
        using var adapter = AdapterFolder.LoadLora(folder.Folder, folder.Model);
        Assert.That(adapter.Config.Scale, Is.EqualTo(2f));
    }

    private static double[] OracleScoresOf(TinyCheckpoint checkpoint, IReadOnlyDictionary<string, ReferenceTensor> weights, TokenBatch batch,
        int[] rows, int[] ids, out double scale) =>
        LoraReference.OracleScores(new NaiveTransformer(checkpoint.Config, weights), batch, rows, ids, out scale);

    [TestCase(TinyVariant.LlamaTied, DType.F32)]
    [TestCase(TinyVariant.Gpt2, DType.BF16)]
    [TestCase(TinyVariant.OptPostLayerNorm, DType.F16)]
    public void SavedThenLoadedGivesTheSameBytesUnderPeftsNames(TinyVariant variant, DType type)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        string[] targets = LoraReference.AllProjections(checkpoint.ModelType);
        var paths = LoraReference.ModulePaths(checkpoint.ModelType, checkpoint.Options.Layers, targets);
        var lora = LoraReference.RandomTensors(checkpoint, paths, Rank, seed: 9, type);
        string folder = LoraReference.TempFolder("saved");
        try
        {
            using var backend = new CpuBackend();
            using var model = Transformer.Load(checkpoint.Folder, backend);
            using var adapter = LoraAdapter.Create(model, new LoraConfig(Rank, Alpha, targets), type);
            LoraReference.Upload(adapter, lora);
            adapter.Save(folder, "org/" + Path.GetFileName(checkpoint.Folder), []);

            // The tensors, read with the test's own safetensors reader: PEFT's names, shapes, dtype and the values uploaded.
            string weights = Path.Combine(folder, "adapter_model.safetensors");
            var stored = SafetensorsTestReader.Read(weights);
            Assert.That(stored.Keys, Is.EquivalentTo(lora.Keys));
            Assert.That(SafetensorsTestReader.DTypes(weights).Values.Distinct(), Is.EqualTo(new[] { type.SafetensorsName() }));
            foreach (var (name, tensor) in lora)
            {
                Assert.That(stored[name].Shape, Is.EqualTo(tensor.Shape), name);
                Assert.That(stored[name].Values, Is.EqualTo(tensor.Values), name);
            }

            using var loaded = AdapterFolder.LoadLora(folder, model);
            Assert.That(loaded.DType, Is.EqualTo(type));
            Assert.That(loaded.Parameters.Select(p => p.Name), Is.EqualTo(adapter.Parameters.Select(p => p.Name)));
            for (int i = 0; i < adapter.Parameters.Count; i++)
                Assert.That(LoraReference.StoredBytes(loaded.Parameters[i].Tensor), Is.EqualTo(LoraReference.StoredBytes(adapter.Parameters[i].Tensor)),
                    adapter.Parameters[i].Name);
        }
        finally
        {
            LoraReference.Delete(folder);
        }
    }

    [Test]
    public void RestoreOverwritesTheAdapterWithTheSavedBytesAndNamesADtypeMismatch()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Qwen2);
        var paths = LoraReference.ModulePaths("qwen2", checkpoint.Options.Layers, ["q_proj", "v_proj"]);
        var lora = LoraReference.RandomTensors(checkpoint, paths, Rank, seed: 10, DType.BF16);
        string folder = LoraReference.TempFolder("restore");
        try
        {
            using var backend = new CpuBackend();
            using var model = Transformer.Load(checkpoint.Folder, backend);
            var config = new LoraConfig(Rank, Alpha, LoraConfig.PaperTargets);
            using var adapter = LoraAdapter.Create(model, config, DType.BF16);
            LoraReference.Upload(adapter, lora);
            adapter.Save(folder, "", []);
            var saved = adapter.Parameters.Select(p => LoraReference.StoredBytes(p.Tensor)).ToArray();
            adapter.InitializeAsPeft(seed: 99); // a run's adapter has moved on since the checkpoint
            Assert.That(adapter.Parameters.Select(p => LoraReference.StoredBytes(p.Tensor)), Is.Not.EqualTo(saved));

            AdapterFolder.Restore(folder, adapter.Parameters);
            Assert.That(adapter.Parameters.Select(p => LoraReference.StoredBytes(p.Tensor)), Is.EqualTo(saved));

            using var f32 = LoraAdapter.Create(model, config, DType.F32);
            var e = Assert.Throws<InvalidInputException>(() => AdapterFolder.Restore(folder, f32.Parameters))!;
            Assert.That(e.Message, Does.Contain(f32.Parameters[0].Name).And.Contain("adapter_model.safetensors").And.Contain("BF16"));
        }
        finally
        {
            LoraReference.Delete(folder);
        }
    }

    [TestCase(TinyVariant.LlamaTied, new[] { "q_proj", "v_proj" }, new[] { "q_proj", "v_proj" }, false)]
    [TestCase(TinyVariant.Gpt2, new[] { "q_proj", "v_proj" }, new[] { "c_attn" }, true)]
    [TestCase(TinyVariant.OptPreLayerNorm, new[] { "out_proj", "fc1" }, new[] { "out_proj", "fc1" }, false)]
    public void TheWrittenConfigHasPeftsKeysAndValues(TinyVariant variant, string[] targets, string[] peftTargets, bool fanInFanOut)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        string folder = LoraReference.TempFolder("config");
        try
        {
            using var backend = new CpuBackend();
            using var model = Transformer.Load(checkpoint.Folder, backend);
            using var adapter = LoraAdapter.Create(model, new LoraConfig(8, 16, targets));
            adapter.Save(folder, "facebook/opt-125m", []);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "adapter_config.json")))!.AsObject();

            // Every key is one of PEFT's LoraConfig fields (peft/tuners/lora/config.py, PeftConfig) ...
            string[] peftKeys =
            [
                "alpha_pattern", "auto_mapping", "base_model_name_or_path", "bias", "fan_in_fan_out", "inference_mode", "init_lora_weights",
                "layer_replication", "layers_pattern", "layers_to_transform", "loftq_config", "lora_alpha", "lora_dropout", "megatron_config",
                "megatron_core", "modules_to_save", "peft_type", "r", "rank_pattern", "revision", "target_modules", "task_type", "use_dora",
                "use_rslora", "exclude_modules", "lora_bias", "use_qalora", "qalora_group_size", "trainable_token_indices", "layers_pattern",
                "eva_config", "corda_config", "target_parameters", "peft_version", "runtime_config",
            ];
            Assert.That(json.Select(p => p.Key), Is.SubsetOf(peftKeys));
            // ... and the ones that decide what PEFT builds say what the engine computed.
            Assert.That((string?)json["peft_type"], Is.EqualTo("LORA"));
            Assert.That((string?)json["task_type"], Is.EqualTo("CAUSAL_LM"));
            Assert.That((string?)json["bias"], Is.EqualTo("none"));
            Assert.That((string?)json["base_model_name_or_path"], Is.EqualTo("facebook/opt-125m"));
            Assert.That(json["r"]!.GetValueKind(), Is.EqualTo(JsonValueKind.Number));
            Assert.That(json["r"]!.ToJsonString(), Is.EqualTo("8"), "r is an int in PEFT");
            Assert.That((double)json["lora_alpha"]!, Is.EqualTo(16));
            Assert.That((bool)json["fan_in_fan_out"]!, Is.EqualTo(fanInFanOut), "True for GPT-2's Conv1D, as PEFT warns and sets");
            Assert.That(json["target_modules"]!.AsArray().Select(t => (string)t!), Is.EquivalentTo(peftTargets));
            foreach (string unset in new[] { "modules_to_save", "layers_to_transform", "layers_pattern" })
                Assert.That(json[unset] is null || json[unset]!.GetValueKind() == JsonValueKind.Null, unset);
            foreach (string off in new[] { "use_dora", "use_rslora" })
                Assert.That(json[off] is null || !(bool)json[off]!, off);

            // The safetensors header: PEFT's names and (r, in) / (out, r) shapes, nothing else but __metadata__.
            var header = Header(Path.Combine(folder, "adapter_model.safetensors"));
            var paths = LoraReference.ModulePaths(checkpoint.ModelType, checkpoint.Options.Layers, peftTargets);
            var expected = new Dictionary<string, int[]>();
            foreach (string path in paths)
            {
                var (input, output) = LoraReference.Features(checkpoint, path);
                expected["base_model.model." + path + ".lora_A.weight"] = [8, input];
                expected["base_model.model." + path + ".lora_B.weight"] = [output, 8];
            }
            Assert.That(header.Select(p => p.Key).Where(k => k != "__metadata__"), Is.EquivalentTo(expected.Keys));
            foreach (var (name, shape) in expected)
                Assert.That(header[name]!["shape"]!.AsArray().Select(d => (int)d!), Is.EqualTo(shape), name);
        }
        finally
        {
            LoraReference.Delete(folder);
        }
    }

    [Test]
    public void ARegularExpressionTargetIsSavedAsAString()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        string folder = LoraReference.TempFolder("pattern");
        try
        {
            using var backend = new CpuBackend();
            using var model = Transformer.Load(checkpoint.Folder, backend);
            const string pattern = @".*\.(q_proj|up_proj)";
            using var adapter = LoraAdapter.Create(model, new LoraConfig(4, 8, [], pattern));
            adapter.Save(folder, "", []);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "adapter_config.json")))!.AsObject();
            Assert.That(json["target_modules"]!.GetValueKind(), Is.EqualTo(JsonValueKind.String));
            Assert.That((string)json["target_modules"]!, Is.EqualTo(pattern));
            using var loaded = AdapterFolder.LoadLora(folder, model);
            Assert.That(loaded.Modules.Select(m => m.Path), Is.EquivalentTo(
                LoraReference.ModulePaths("llama", checkpoint.Options.Layers, ["q_proj", "up_proj"])));
        }
        finally
        {
            LoraReference.Delete(folder);
        }
    }

    private static JsonObject Header(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        long length = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        return JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)length))!.AsObject();
    }

    // ---- bad input ----

    /// <summary>A good Llama adapter folder (q_proj, v_proj) to damage, its checkpoint and a model loaded from it.</summary>
    private sealed class BadFolder : IDisposable
    {
        public BadFolder(Action<JsonObject, SortedDictionary<string, ReferenceTensor>>? damage = null)
        {
            Checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
            var paths = LoraReference.ModulePaths("llama", Checkpoint.Options.Layers, ["q_proj", "v_proj"]);
            var tensors = LoraReference.RandomTensors(Checkpoint, paths, Rank, seed: 3);
            var config = LoraReference.PeftConfig(Rank, Alpha, new JsonArray("q_proj", "v_proj"), false, Checkpoint.Folder);
            damage?.Invoke(config, tensors);
            Folder = LoraReference.WriteAdapter(LoraReference.TempFolder("bad"), config, tensors);
            Backend = new CpuBackend();
            Model = Transformer.Load(Checkpoint.Folder, Backend);
        }

        public TinyCheckpoint Checkpoint { get; }
        public string Folder { get; }
        public CpuBackend Backend { get; }
        public Transformer Model { get; }
        public string ConfigPath => Path.Combine(Folder, "adapter_config.json");
        public string WeightsPath => Path.Combine(Folder, "adapter_model.safetensors");

        public InvalidInputException Load() => Assert.Throws<InvalidInputException>(() => AdapterFolder.LoadLora(Folder, Model).Dispose())!;

        public void Dispose()
        {
            Model.Dispose();
            Backend.Dispose();
            LoraReference.Delete(Folder);
            Checkpoint.Dispose();
        }
    }

    [Test]
    public void TheUndamagedFolderLoads()
    {
        using var folder = new BadFolder();
        using var adapter = AdapterFolder.LoadLora(folder.Folder, folder.Model);
        Assert.That(adapter.Modules, Has.Count.EqualTo(4));
    }

    [Test]
    public void TargetsMatchingNothingListTheModelsModules()
    {
        using var folder = new BadFolder((config, _) => config["target_modules"] = new JsonArray("query_key_value"));
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain("query_key_value"));
        foreach (string name in new[] { "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj" })
            Assert.That(e.Message, Does.Contain(name));
        Assert.That(e.Message, Does.Contain(folder.Checkpoint.Folder).Or.Contain(folder.ConfigPath));
    }

    [Test]
    public void ATensorOfTheWrongShapeIsNamed()
    {
        const string name = "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight";
        using var folder = new BadFolder((_, t) => t[name] = new ReferenceTensor([Rank, t[name].Shape[1] + 1], new float[Rank * (t[name].Shape[1] + 1)]));
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain(name).And.Contain(folder.WeightsPath));
    }

    [Test]
    public void AMissingTensorIsNamed()
    {
        const string name = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";
        using var folder = new BadFolder((_, t) => t.Remove(name));
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain(name).And.Contain(folder.WeightsPath).And.Contain("missing"));
    }

    [Test]
    public void AnExtraTensorIsNamed()
    {
        const string name = "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight";
        using var folder = new BadFolder((_, t) => t[name] = new ReferenceTensor([Rank, 32], new float[Rank * 32]));
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain(name).And.Contain(folder.WeightsPath));
    }

    [TestCase("meta-llama/Llama-3.2-1B")]
    [TestCase("/nonexistent/llama")]
    public void AnAdapterForAnotherBaseModelIsRefused(string baseModel)
    {
        using var folder = new BadFolder((config, _) => config["base_model_name_or_path"] = baseModel);
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain(baseModel).And.Contain(folder.ConfigPath));
    }

    [Test]
    public void ALocalBaseFolderWithAnotherConfigIsRefused()
    {
        using var other = TinyCheckpoints.Create(TinyVariant.LlamaUntied);
        using var folder = new BadFolder((config, _) => config["base_model_name_or_path"] = other.Folder);
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain(other.Folder).And.Contain(folder.ConfigPath));
    }

    [Test]
    public void AHubNameEndingInTheModelFoldersNameIsAccepted()
    {
        using var folder = new BadFolder();
        var config = JsonNode.Parse(File.ReadAllText(folder.ConfigPath))!.AsObject();
        config["base_model_name_or_path"] = "someone/" + Path.GetFileName(folder.Checkpoint.Folder);
        File.WriteAllText(folder.ConfigPath, config.ToJsonString());
        using var adapter = AdapterFolder.LoadLora(folder.Folder, folder.Model);
        Assert.That(adapter.Modules, Has.Count.EqualTo(4));
    }

    [TestCase("use_dora", "true")]
    [TestCase("bias", "\"all\"")]
    [TestCase("bias", "\"lora_only\"")]
    [TestCase("modules_to_save", "[\"lm_head\"]")]
    [TestCase("use_rslora", "true")]
    [TestCase("rank_pattern", "{\"q_proj\": 16}")]
    [TestCase("layers_to_transform", "[0]")]
    [TestCase("lora_bias", "true")]
    [TestCase("exclude_modules", "[\"model.layers.0.self_attn.q_proj\"]")]
    [TestCase("exclude_modules", "\".*layers\\\\.0\\\\..*\"")]
    [TestCase("layer_replication", "[[0, 2], [1, 2]]")]
    [TestCase("target_parameters", "[\"mlp.experts.gate_up_proj\"]")]
    [TestCase("trainable_token_indices", "[0, 1]")]
    public void AnUnsupportedSettingIsNamed(string key, string rawJson)
    {
        using var folder = new BadFolder((config, _) => config[key] = JsonNode.Parse(rawJson));
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain(key).And.Contain(folder.ConfigPath));
    }

    [Test]
    public void PromptTuningIsNotSupported()
    {
        using var folder = new BadFolder((config, _) => config["peft_type"] = "PROMPT_TUNING");
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain("PROMPT_TUNING").And.Contain(folder.ConfigPath));
    }

    [Test]
    public void AFolderWithoutTheSafetensorsFileSaysSo()
    {
        using var folder = new BadFolder();
        File.Delete(folder.WeightsPath);
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain("adapter_model.safetensors").And.Contain(folder.Folder));
    }

    [Test]
    public void AFolderWithOnlyAPickleSaysHowToSaveIt()
    {
        using var folder = new BadFolder();
        File.Move(folder.WeightsPath, Path.Combine(folder.Folder, "adapter_model.bin"));
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain("adapter_model.bin").And.Contain("safe_serialization"));
    }

    [Test]
    public void AFolderWithoutAConfigSaysItIsNoAdapter()
    {
        using var folder = new BadFolder();
        File.Delete(folder.ConfigPath);
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain("adapter_config.json").And.Contain(folder.Folder));
    }

    [Test]
    public void CreatingAnAdapterWhoseTargetsMatchNothingListsTheModules()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Gpt2);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var e = Assert.Throws<InvalidInputException>(() => LoraAdapter.Create(model, new LoraConfig(4, 8, ["fc1"])))!;
        Assert.That(e.Message, Does.Contain("fc1").And.Contain("c_attn").And.Contain("c_fc").And.Contain("c_proj"));
    }

    [Test]
    public void ATargetNameThatMatchesNothingIsNamedEvenWhenOthersMatch()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Gpt2);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        // q_proj names GPT-2's fused c_attn; lm_head is no layer projection, so the list must not quietly shrink to c_attn.
        var e = Assert.Throws<InvalidInputException>(() => LoraAdapter.Create(model, new LoraConfig(4, 8, ["q_proj", "lm_head"])))!;
        Assert.That(e.Message, Does.Contain("'lm_head'").And.Contain("c_attn"));
    }
}
