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
/// PEFT's PREFIX_TUNING folder: one written by hand as PEFT's save_pretrained writes it for a causal LM, holding the
/// keys and values the oracle computes for tokens X, scores as a prefix uploaded with the same values and as the
/// oracle over X ++ S; what the engine saves reads back to the same bytes under PEFT's config keys; and each kind of
/// bad folder is one <see cref="InvalidInputException"/> naming the file or tensor at fault.
/// </summary>
[TestFixture]
public sealed class PrefixFolderTests
{
    private static readonly int[] Tokens = [17, 4, 58];

    /// <summary>
    /// adapter_config.json as PEFT's PrefixTuningConfig.save_pretrained writes it for a causal LM, with the fields
    /// _prepare_prompt_learning_config fills from the model's config: num_layers, token_dim (the hidden size) and
    /// num_attention_heads, both scaled to the key/value heads when the config has num_key_value_heads (PEFT #1901),
    /// and encoder_hidden_size defaulting to token_dim.
    /// </summary>
    private static JsonObject PeftConfig(JsonObject model, int virtualTokens, string? baseModel)
    {
        int Get(params string[] keys) => keys.Where(model.ContainsKey).Select(k => (int)model[k]!).First();
        int layers = Get("num_hidden_layers", "num_layers", "n_layer");
        int tokenDim = Get("hidden_size", "n_embd", "d_model");
        int heads = Get("num_attention_heads", "n_head", "num_heads");
        if (model.ContainsKey("num_key_value_heads"))
        {
            int kvHeads = (int)model["num_key_value_heads"]!;
            tokenDim = tokenDim / heads * kvHeads;
            heads = kvHeads;
        }
        return new JsonObject
        {
            ["auto_mapping"] = null,
            ["base_model_name_or_path"] = baseModel,
            ["encoder_hidden_size"] = tokenDim,
            ["inference_mode"] = true,
            ["num_attention_heads"] = heads,
            ["num_layers"] = layers,
            ["num_transformer_submodules"] = 1,
            ["num_virtual_tokens"] = virtualTokens,
            ["peft_type"] = "PREFIX_TUNING",
            ["prefix_projection"] = false,
            ["revision"] = null,
            ["task_type"] = "CAUSAL_LM",
            ["token_dim"] = tokenDim,
        };
    }

    /// <summary>
    /// prompt_embeddings (P, L·2·W) as PEFT's PrefixEncoder holds it for the oracle's KV cache over <paramref name="tokens"/>:
    /// get_prompt views a row as (L·2, KVH, D) and splits it in pairs, so layer l's keys are columns [2lW, (2l+1)W) and
    /// its values the next W, head-major as transformers' cache rows are.
    /// </summary>
    private static (float[] Values, int Width) OracleCache(NaiveTransformer oracle, int[] tokens, int layers)
    {
        var keys = new double[layers][][];
        var values = new double[layers][][];
        oracle.KeysAndValues = (l, k, v) => (keys[l], values[l]) = (k, v);
        var ids = new int[1, tokens.Length];
        for (int t = 0; t < tokens.Length; t++) ids[0, t] = tokens[t];
        oracle.Forward(ids);
        oracle.KeysAndValues = null;
        int w = keys[0][0].Length, columns = layers * 2 * w;
        var embeddings = new float[tokens.Length * columns];
        for (int t = 0; t < tokens.Length; t++)
            for (int l = 0; l < layers; l++)
                for (int j = 0; j < w; j++)
                {
                    embeddings[t * columns + 2 * l * w + j] = (float)keys[l][t][j];
                    embeddings[t * columns + (2 * l + 1) * w + j] = (float)values[l][t][j];
                }
        return (embeddings, w);
    }

    private static Dictionary<string, ReferenceTensor> PromptEmbeddings(int rows, int columns, float[] values) =>
        new() { ["prompt_embeddings"] = new ReferenceTensor([rows, columns], values) };

    private static float[] Download(Tensor t)
    {
        var host = new float[t.ElementCount];
        t.Backend.Download<float>(t, host);
        return host;
    }

    [TestCase(TinyVariant.OptPreLayerNorm, TestName = "OPT, token_dim the hidden size")]
    [TestCase(TinyVariant.LlamaTied, TestName = "Llama GQA, token_dim KVH·D")]
    [TestCase(TinyVariant.Mistral, TestName = "Mistral MQA, token_dim D")]
    [TestCase(TinyVariant.Qwen2, TestName = "Qwen2 GQA, biased keys")]
    [TestCase(TinyVariant.Gpt2, TestName = "GPT-2, n_embd")]
    public void APeftFolderOfTheKeysAndValuesOfTokensScoresAsThoseTokensBeforeTheSequence(TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        int layers = checkpoint.Options.Layers;
        var oracle = checkpoint.Oracle();
        var (values, width) = OracleCache(oracle, Tokens, layers);
        var config = PeftConfig(checkpoint.Config, Tokens.Length, checkpoint.Folder);
        Assert.That((int)config["token_dim"]!, Is.EqualTo(width), "PEFT's token_dim is the width of one position's keys in the cache");
        string folder = LoraReference.WriteAdapter(LoraReference.TempFolder("prefix-peft"), config,
            PromptEmbeddings(Tokens.Length, layers * 2 * width, values));
        try
        {
            using var backend = new CpuBackend();
            using var model = Transformer.Load(checkpoint.Folder, backend);
            int[][] sequences = ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 11, 5, 2, 1);
            var batch = TokenBatch.Pack(sequences, PaddingSide.Right);
            int[] rows = ParityRuns.RealRows(batch);
            int vocab = checkpoint.VocabSize;
            float[] plain = ParityRuns.EngineLogits(model, batch, rows);

            using var loaded = AdapterFolder.LoadPrefix(folder, model);
            Assert.That((loaded.Tokens, loaded.Layers, loaded.KvWidth), Is.EqualTo((Tokens.Length, layers, width)));
            Assert.That(loaded.Embeddings.DType, Is.EqualTo(DType.F32));
            Assert.That(Download(loaded.Embeddings), Is.EqualTo(values), "the file's values, unchanged");
            model.Prefix = loaded;
            float[] actual = ParityRuns.EngineLogits(model, batch, rows);

            using var uploaded = PrefixAdapter.Create(model.Spec, backend, Tokens.Length);
            uploaded.Upload(values);
            model.Prefix = uploaded;
            Assert.That(ParityRuns.EngineLogits(model, batch, rows), Is.EqualTo(actual), "a prefix uploaded with the same values");

            int r = 0;
            double largestChange = 0, tolerance = 0;
            for (int b = 0; b < sequences.Length; b++)
            {
                double[,,] expected = PrefixRuns.OracleOverConcatenation(oracle, Tokens, sequences[b]);
                double scale = 0;
                foreach (double x in expected) scale = Math.Max(scale, Math.Abs(x));
                tolerance = Math.Max(tolerance, ParityRuns.Tolerance(scale));
                for (int i = 0; i < sequences[b].Length; i++, r++)
                    for (int v = 0; v < vocab; v++)
                    {
                        Assert.That(actual[r * vocab + v], Is.EqualTo(expected[0, Tokens.Length + i, v]).Within(ParityRuns.Tolerance(scale)),
                            $"sequence {b}, token {i}, logit {v}: the oracle over X ++ S");
                        largestChange = Math.Max(largestChange, Math.Abs(actual[r * vocab + v] - plain[r * vocab + v]));
                    }
            }
            Assert.That(largestChange, Is.GreaterThan(100 * tolerance), "the prefix changes the logits");

            // The engine's own initialisation from X lays the cache out as PEFT's file does.
            model.Prefix = null;
            using var fromActivations = PrefixAdapter.FromActivations(model, Tokens);
            double valueScale = values.Max(v => Math.Abs(v));
            Assert.That(Download(fromActivations.Embeddings), Is.EqualTo(values).Within(ParityRuns.Tolerance(valueScale)), "FromActivations of X");
        }
        finally
        {
            LoraReference.Delete(folder);
        }
    }

    [TestCase(TinyVariant.LlamaTied)]
    [TestCase(TinyVariant.OptPostLayerNorm)]
    public void SavedThenLoadedGivesTheSameBytesUnderPeftsName(TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        string folder = LoraReference.TempFolder("prefix-saved");
        try
        {
            using var backend = new CpuBackend();
            using var model = Transformer.Load(checkpoint.Folder, backend);
            const int p = 4;
            int columns = checkpoint.Options.Layers * 2 * model.Spec.KvWidth;
            var random = new Random(5);
            float[] values = Enumerable.Range(0, p * columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            using var prefix = PrefixAdapter.Create(model.Spec, backend, p);
            prefix.Upload(values);
            prefix.Save(folder, "org/" + Path.GetFileName(checkpoint.Folder), []);

            // Read with the test's own safetensors reader: one tensor, PEFT's name, (P, L·2·W), F32, the values uploaded.
            string weights = Path.Combine(folder, "adapter_model.safetensors");
            var stored = SafetensorsTestReader.Read(weights);
            Assert.That(stored.Keys, Is.EqualTo(new[] { "prompt_embeddings" }));
            Assert.That(stored["prompt_embeddings"].Shape, Is.EqualTo(new[] { p, columns }));
            Assert.That(SafetensorsTestReader.DTypes(weights)["prompt_embeddings"], Is.EqualTo("F32"));
            Assert.That(stored["prompt_embeddings"].Values, Is.EqualTo(values));

            using var loaded = AdapterFolder.LoadPrefix(folder, model);
            Assert.That(loaded.Tokens, Is.EqualTo(p));
            Assert.That(LoraReference.StoredBytes(loaded.Embeddings), Is.EqualTo(LoraReference.StoredBytes(prefix.Embeddings)));
        }
        finally
        {
            LoraReference.Delete(folder);
        }
    }

    [TestCase(TinyVariant.LlamaTied, TestName = "Llama GQA: token_dim and heads of the key/value heads")]
    [TestCase(TinyVariant.Mistral, TestName = "Mistral MQA: one key/value head")]
    [TestCase(TinyVariant.OptPreLayerNorm, TestName = "OPT: the hidden size and every head")]
    public void TheWrittenConfigHasPeftsKeysAndValues(TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        string folder = LoraReference.TempFolder("prefix-config");
        try
        {
            using var backend = new CpuBackend();
            using var model = Transformer.Load(checkpoint.Folder, backend);
            using var prefix = PrefixAdapter.Create(model.Spec, backend, 6);
            prefix.Save(folder, "facebook/opt-125m", []);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "adapter_config.json")))!.AsObject();

            // Every key is a field of PEFT's PrefixTuningConfig (peft/tuners/prefix_tuning/config.py), its
            // PromptLearningConfig and PeftConfig (peft/config.py) ...
            string[] peftKeys =
            [
                "auto_mapping", "base_model_name_or_path", "revision", "peft_type", "task_type", "inference_mode", "peft_version",
                "num_virtual_tokens", "token_dim", "num_transformer_submodules", "num_attention_heads", "num_layers", "modules_to_save",
                "encoder_hidden_size", "prefix_projection",
            ];
            Assert.That(json.Select(p => p.Key), Is.SubsetOf(peftKeys));
            // ... and each one PEFT builds from has the value PEFT itself would have written for this model.
            var expected = PeftConfig(checkpoint.Config, 6, "facebook/opt-125m");
            foreach (var (key, value) in expected)
            {
                if (key == "auto_mapping") continue; // null, optional
                Assert.That(json.ContainsKey(key), key);
                Assert.That(json[key]?.ToJsonString(), Is.EqualTo(value?.ToJsonString()), key);
            }
            foreach (string integer in new[] { "num_virtual_tokens", "token_dim", "num_attention_heads", "num_layers", "num_transformer_submodules" })
                Assert.That(json[integer]!.GetValueKind(), Is.EqualTo(JsonValueKind.Number), integer);
        }
        finally
        {
            LoraReference.Delete(folder);
        }
    }

    // ---- bad input ----

    /// <summary>A good Llama prefix folder (P 3) to damage, its checkpoint and a model loaded from it.</summary>
    private sealed class BadFolder : IDisposable
    {
        public const int P = 3;

        public BadFolder(Action<JsonObject, Dictionary<string, ReferenceTensor>>? damage = null, DType fileType = DType.F32)
        {
            Checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
            Backend = new CpuBackend();
            Model = Transformer.Load(Checkpoint.Folder, Backend);
            Columns = Checkpoint.Options.Layers * 2 * Model.Spec.KvWidth;
            var random = new Random(4);
            Values = Enumerable.Range(0, P * Columns).Select(_ => ReferenceRounding.Round(fileType, (float)(random.NextDouble() * 2 - 1))).ToArray();
            var tensors = PromptEmbeddings(P, Columns, Values);
            var config = PeftConfig(Checkpoint.Config, P, Checkpoint.Folder);
            damage?.Invoke(config, tensors);
            Folder = LoraReference.WriteAdapter(LoraReference.TempFolder("prefix-bad"), config, tensors, fileType);
        }

        public TinyCheckpoint Checkpoint { get; }
        public string Folder { get; }
        public CpuBackend Backend { get; }
        public Transformer Model { get; }
        public int Columns { get; }
        public float[] Values { get; }
        public string ConfigPath => Path.Combine(Folder, "adapter_config.json");
        public string WeightsPath => Path.Combine(Folder, "adapter_model.safetensors");

        public InvalidInputException Load() => Assert.Throws<InvalidInputException>(() => AdapterFolder.LoadPrefix(Folder, Model).Dispose())!;

        public void Dispose()
        {
            Model.Dispose();
            Backend.Dispose();
            LoraReference.Delete(Folder);
            Checkpoint.Dispose();
        }
    }

    [Test]
    public void TheUndamagedFolderLoadsItsValues()
    {
        using var folder = new BadFolder();
        using var prefix = AdapterFolder.LoadPrefix(folder.Folder, folder.Model);
        Assert.That(prefix.Tokens, Is.EqualTo(BadFolder.P));
        Assert.That(Download(prefix.Embeddings), Is.EqualTo(folder.Values));
    }

    [Test]
    public void ABfloat16FileLoadsAsFloat32OfTheSameValues()
    {
        using var folder = new BadFolder(fileType: DType.BF16);
        Assert.That(SafetensorsTestReader.DTypes(folder.WeightsPath)["prompt_embeddings"], Is.EqualTo("BF16"));
        using var prefix = AdapterFolder.LoadPrefix(folder.Folder, folder.Model);
        Assert.That(prefix.Embeddings.DType, Is.EqualTo(DType.F32));
        // Values were rounded to bfloat16 before writing, so widening them to float32 is exact.
        Assert.That(Download(prefix.Embeddings), Is.EqualTo(folder.Values));
        Assert.That(folder.Values.Any(v => v != 0));
    }

    [Test]
    public void PromptEmbeddingsForAnotherLayerCountAreNamedWithBothShapes()
    {
        int layers = 0, width = 0;
        using var folder = new BadFolder((config, t) =>
        {
            layers = (int)config["num_layers"]!;
            width = (int)config["token_dim"]!;
            int columns = (layers + 1) * 2 * width;
            t["prompt_embeddings"] = new ReferenceTensor([BadFolder.P, columns], new float[BadFolder.P * columns]);
            config["num_layers"] = layers + 1;
        });
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain("prompt_embeddings").And.Contain(folder.WeightsPath)
            .And.Contain($"({BadFolder.P}, {(layers + 1) * 2 * width})").And.Contain($"({BadFolder.P}, {layers * 2 * width})"));
    }

    [Test]
    public void PromptEmbeddingsWithMoreRowsThanVirtualTokensAreNamed()
    {
        using var folder = new BadFolder((config, _) => config["num_virtual_tokens"] = BadFolder.P + 1);
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain("prompt_embeddings").And.Contain(folder.WeightsPath));
    }

    [Test]
    public void PromptEmbeddingsUnderAnotherNameIsNamed()
    {
        const string name = "base_model.model.prompt_encoder.default.embedding.weight";
        using var folder = new BadFolder((_, t) =>
        {
            t[name] = t["prompt_embeddings"];
            t.Remove("prompt_embeddings");
        });
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain(name).And.Contain(folder.WeightsPath));
    }

    [Test]
    public void AFileWithNoTensorSaysPromptEmbeddingsIsMissing()
    {
        using var folder = new BadFolder((_, t) => t.Remove("prompt_embeddings"));
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain("prompt_embeddings").And.Contain("missing").And.Contain(folder.WeightsPath));
    }

    [Test]
    public void AnExtraTensorIsNamed()
    {
        // What PEFT saves with prefix_projection: the MLP's weights beside the embedding.
        const string name = "prefix_encoder.transform.0.weight";
        using var folder = new BadFolder((_, t) => t[name] = new ReferenceTensor([2, 2], [1, 2, 3, 4]));
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain(name).And.Contain(folder.WeightsPath));
    }

    [Test]
    public void PrefixProjectionIsRefusedByName()
    {
        using var folder = new BadFolder((config, _) => config["prefix_projection"] = true);
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain("prefix_projection").And.Contain(folder.ConfigPath));
    }

    [TestCase("0")]
    [TestCase("-2")]
    [TestCase("2.5")]
    [TestCase("\"3\"")]
    [TestCase(null)]
    public void ABadOrMissingNumVirtualTokensIsNamed(string? rawJson)
    {
        using var folder = new BadFolder((config, _) =>
        {
            if (rawJson is null) config.Remove("num_virtual_tokens");
            else config["num_virtual_tokens"] = JsonNode.Parse(rawJson);
        });
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain("num_virtual_tokens").And.Contain(folder.ConfigPath));
        Assert.Throws<InvalidInputException>(() => AdapterFolder.Describe(folder.Folder));
    }

    [Test]
    public void ALoraFolderIsNotLoadedAsAPrefix()
    {
        using var folder = new BadFolder();
        var lora = LoraReference.PeftConfig(4, 8, new JsonArray("q_proj"), false, folder.Checkpoint.Folder);
        File.WriteAllText(folder.ConfigPath, lora.ToJsonString());
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain(folder.Folder).And.Contain("prefix"));
    }

    [Test]
    public void APrefixFolderIsNotLoadedAsLora()
    {
        using var folder = new BadFolder();
        var e = Assert.Throws<InvalidInputException>(() => AdapterFolder.LoadLora(folder.Folder, folder.Model).Dispose())!;
        Assert.That(e.Message, Does.Contain(folder.Folder).And.Contain("LoRA"));
    }

    [Test]
    public void APrefixForAnotherBaseModelIsRefused()
    {
        using var folder = new BadFolder((config, _) => config["base_model_name_or_path"] = "meta-llama/Llama-3.2-1B");
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain("meta-llama/Llama-3.2-1B").And.Contain(folder.ConfigPath));
    }

    [Test]
    public void AnIntegerPromptEmbeddingsIsRefusedByName()
    {
        using var folder = new BadFolder();
        // Rewrite the header's dtype: F32 → I32 keeps the byte count, so only the dtype is wrong.
        byte[] bytes = File.ReadAllBytes(folder.WeightsPath);
        int length = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        string header = Encoding.UTF8.GetString(bytes, 8, length);
        Assert.That(header, Does.Contain("\"F32\""));
        Encoding.UTF8.GetBytes(header.Replace("\"F32\"", "\"I32\"")).CopyTo(bytes, 8);
        File.WriteAllBytes(folder.WeightsPath, bytes);
        var e = folder.Load();
        Assert.That(e.Message, Does.Contain("prompt_embeddings").And.Contain(folder.WeightsPath));
    }

    [Test]
    public void ARepeatedKeyIsRefusedAsInvalidJsonNamingTheFile()
    {
        // Python's json keeps the last of repeated keys; which one the engine would read is not worth guessing (found by
        // fuzzing: JsonNode threw ArgumentException from its dictionary).
        using var folder = new BadFolder();
        File.WriteAllText(folder.ConfigPath, """{"peft_type": "LORA", "peft_type": "PREFIX_TUNING", "num_virtual_tokens": 3}""");
        var e = Assert.Throws<InvalidInputException>(() => AdapterFolder.Describe(folder.Folder))!;
        Assert.That(e.Message, Does.Contain(folder.ConfigPath).And.Contain("peft_type"));
    }
}
