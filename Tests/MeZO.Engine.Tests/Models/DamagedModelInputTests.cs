using MeZO.Engine.Models.Generation;
using System.Text.Json.Nodes;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using MeZO.Engine.Tokenization;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// Damaged model folders and bad inputs through Transformer.Load, ModelConfigReader, ModelTokenizer and the forward
/// pass: each is an <see cref="InvalidInputException"/> whose message is one line naming the file (and tensor) and
/// the problem — never another exception type, never a wrong answer.
/// </summary>
[TestFixture]
public sealed class DamagedModelInputTests
{
    // ---- config.json ----

    [TestCase("", "not valid JSON", TestName = "ConfigJsonEmpty")]
    [TestCase("{ \"model_type\": ", "not valid JSON", TestName = "ConfigJsonMalformed")]
    [TestCase("[1, 2, 3]", "must be a JSON object", TestName = "ConfigJsonNotAnObject")]
    public void ConfigJsonThatIsNotAConfigIsRejected(string text, string problem)
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        string config = Path.Combine(checkpoint.Folder, "config.json");
        File.WriteAllText(config, text);

        AssertRejected(() => Load(checkpoint.Folder), config, problem);
        AssertRejected(() => ModelConfigReader.Read(checkpoint.Folder), config, problem);
    }

    [Test]
    public void ConfigJsonMissingIsRejected()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Gpt2);
        string config = Path.Combine(checkpoint.Folder, "config.json");
        File.Delete(config);

        AssertRejected(() => Load(checkpoint.Folder), config, "missing");
    }

    [Test]
    public void ModelFolderMissingIsRejected()
    {
        string folder = Path.Combine(Path.GetTempPath(), "mezo-no-such-model-" + Guid.NewGuid().ToString("N"));

        AssertRejected(() => Load(folder), folder, "does not exist");
    }

    public static IEnumerable<TestCaseData> ConfigEdits()
    {
        TestCaseData Case(string name, TinyVariant variant, Action<JsonObject> edit, string problem) =>
            new TestCaseData(variant, edit, problem).SetName("ConfigJson" + name);
        yield return Case("UnsupportedModelType", TinyVariant.LlamaTied, c => c["model_type"] = "bert", "model_type 'bert' is not supported");
        yield return Case("MissingRequiredKey", TinyVariant.LlamaTied, c => c.Remove("hidden_size"), "missing required key 'hidden_size'");
        yield return Case("MissingRequiredKeyGpt2", TinyVariant.Gpt2, c => c.Remove("n_layer"), "missing required key 'n_layer'");
        yield return Case("KeyOfTheWrongType", TinyVariant.OptPreLayerNorm, c => c["num_hidden_layers"] = "two", "'num_hidden_layers' must be an integer");
        yield return Case("HeadsNotDividingHidden", TinyVariant.OptPreLayerNorm, c => c["num_attention_heads"] = 5, "hidden size 32 is not divisible by 5 heads");
        yield return Case("HeadsNotDividingHiddenGpt2", TinyVariant.Gpt2, c => c["n_head"] = 3, "hidden size 32 is not divisible by 3 heads");
        yield return Case("KeyValueHeadsNotDividingHeads", TinyVariant.LlamaTied, c => c["num_key_value_heads"] = 3,
            "4 attention heads are not a multiple of 3 key/value heads");
        yield return Case("ZeroLayers", TinyVariant.Qwen2, c => c["num_hidden_layers"] = 0, "'num_hidden_layers' must be a positive integer, is 0");
        yield return Case("RopeScalingUnsupported", TinyVariant.LlamaUntied,
            c => c["rope_scaling"] = new JsonObject { ["rope_type"] = "yarn", ["factor"] = 4.0 }, "rope_scaling type 'yarn' is not supported");
        yield return Case("RopeScalingNotAnObject", TinyVariant.Mistral, c => c["rope_scaling"] = "linear", "rope_scaling must be an object");
        yield return Case("RopeScalingWithoutFactor", TinyVariant.LlamaTied,
            c => c["rope_scaling"] = new JsonObject { ["rope_type"] = "linear" }, "rope_scaling.factor is missing");
        yield return Case("UnsupportedActivation", TinyVariant.Gpt2, c => c["activation_function"] = "quick_gelu", "activation_function 'quick_gelu' is not supported");
        yield return Case("UnsupportedLlamaActivation", TinyVariant.LlamaTied, c => c["hidden_act"] = "gelu", "hidden_act 'gelu' is not supported");
        // transformers' mask would let no query attend anything (kv_idx > q_idx − 0 and kv_idx ≤ q_idx).
        yield return Case("SlidingWindowZero", TinyVariant.MistralSlidingWindow, c => c["sliding_window"] = 0, "sliding_window must be positive, is 0");
        yield return Case("SlidingWindowNotAnInteger", TinyVariant.Qwen2SlidingWindow, c => c["sliding_window"] = "4", "'sliding_window' must be an integer");
        yield return Case("LayerTypesOfAnotherLength", TinyVariant.Qwen2SlidingWindow,
            c => c["layer_types"] = new JsonArray("sliding_attention"), "layer_types lists 1 layers, num_hidden_layers is 2");
        yield return Case("LayerTypesUnsupported", TinyVariant.Qwen2SlidingWindow,
            c => c["layer_types"] = new JsonArray("full_attention", "chunked_attention"), "layer_types entry 'chunked_attention' is not supported");
        // Qwen2Config drops the window unless use_sliding_window, and create_sliding_window_causal_mask then raises.
        yield return Case("SlidingLayersWithoutAWindow", TinyVariant.Qwen2, c => c["layer_types"] = new JsonArray("full_attention", "sliding_attention"),
            "layer_types has sliding_attention layers but no window is set");
    }

    [TestCaseSource(nameof(ConfigEdits))]
    public void ConfigJsonWithAnUnusableValueIsRejected(TinyVariant variant, Action<JsonObject> edit, string problem)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        string config = EditConfig(checkpoint, edit);

        AssertRejected(() => Load(checkpoint.Folder), config, problem);
    }

    // ---- the weights against config.json ----

    [Test]
    public void TensorMissingIsRejectedByName()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaUntied);
        const string name = "model.layers.1.mlp.up_proj.weight";
        RewriteWeights(checkpoint, checkpoint.Weights.Where(w => w.Key != name));

        AssertRejected(() => Load(checkpoint.Folder), checkpoint.Folder, $"tensor '{name}' is missing");
    }

    [Test]
    public void TokenEmbeddingMissingIsRejectedByName()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.OptPreLayerNorm);
        RewriteWeights(checkpoint, checkpoint.Weights.Where(w => w.Key != "model.decoder.embed_tokens.weight"));

        AssertRejected(() => Load(checkpoint.Folder), checkpoint.Folder, "tensor 'model.decoder.embed_tokens.weight' is missing");
    }

    [Test]
    public void TensorUnexpectedExtraIsRejectedByName()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Qwen2);
        const string name = "model.layers.0.self_attn.q_norm.weight"; // Qwen3 has it; config.json says qwen2
        RewriteWeights(checkpoint, checkpoint.Weights.Append(new(name, new ReferenceTensor([12], new float[12]))));

        AssertRejected(() => Load(checkpoint.Folder), checkpoint.Folder, $"unexpected tensor '{name}'");
    }

    [Test]
    public void TensorShapeDisagreeingWithConfigJsonIsRejectedNamingTheKeyAndTheTensor()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        EditConfig(checkpoint, c => c["vocab_size"] = 101);

        AssertRejected(() => Load(checkpoint.Folder), Path.Combine(checkpoint.Folder, "config.json"),
            "'vocab_size' is 101, but tensor 'model.embed_tokens.weight' (100, 32) implies 100");
    }

    [Test]
    public void TensorOfAnIntegerDtypeIsRejectedByName()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        const string name = "model.norm.weight";
        string file = Path.Combine(checkpoint.Folder, "model.safetensors");
        // The engine's writer, here only to produce a file with one I32 tensor among F32 ones.
        SafetensorsWriter.Write(file, checkpoint.Weights.Select(w => w.Key == name
            ? TensorToWrite.FromBytes(name, DType.I32, [32], new byte[32 * 4])
            : TensorToWrite.FromSingles(w.Key, DType.F32, w.Value.Shape.Select(d => (long)d).ToArray(), w.Value.Values)));

        AssertRejected(() => Load(checkpoint.Folder), file, $"tensor '{name}' is I32; parameters must be F32, F16 or BF16");
    }

    [TestCase(0L, TestName = "SafetensorsEmpty")]
    [TestCase(5L, TestName = "SafetensorsShorterThanItsHeaderLength")]
    [TestCase(-100L, TestName = "SafetensorsTruncatedInTheData")]
    public void SafetensorsTruncatedIsRejected(long keep)
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Gpt2);
        string file = Path.Combine(checkpoint.Folder, "model.safetensors");
        using (var stream = new FileStream(file, FileMode.Open))
            stream.SetLength(keep >= 0 ? keep : stream.Length + keep);

        AssertRejected(() => Load(checkpoint.Folder), file);
    }

    [Test]
    public void WeightsMissingAreRejected()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Mistral);
        File.Delete(Path.Combine(checkpoint.Folder, "model.safetensors"));

        AssertRejected(() => Load(checkpoint.Folder), checkpoint.Folder, "no model.safetensors");
    }

    // ---- tokenizer.json ----

    [TestCase(null, "missing", TestName = "TokenizerJsonMissing")]
    [TestCase("{ \"model\": ", "not valid JSON", TestName = "TokenizerJsonNotJson")]
    [TestCase("{ \"version\": \"1.0\" }", "no \"model\" entry", TestName = "TokenizerJsonWithoutModel")]
    [TestCase("{ \"model\": { \"type\": \"Nonsense\" } }", "cannot load it", TestName = "TokenizerJsonModelTheLibraryRejects")]
    public void TokenizerJsonDamagedIsRejected(string? text, string problem)
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        string tokenizer = Path.Combine(checkpoint.Folder, "tokenizer.json");
        if (text is not null) File.WriteAllText(tokenizer, text);
        var spec = ModelConfigReader.Read(checkpoint.Folder);

        AssertRejected(() => ModelTokenizer.Load(checkpoint.Folder, spec).Dispose(), tokenizer, problem);
    }

    [Test]
    public void TokenizerDecodingANegativeIdIsRejected()
    {
        string folder = SharedData.Path("models/stories260K");
        using var tokenizer = ModelTokenizer.Load(folder, ModelConfigReader.Read(folder));

        AssertRejected(() => tokenizer.Decode([403, -1]), Path.Combine(folder, "tokenizer.json"), "token id -1 is negative");
    }

    // ---- what is run through the model ----

    [TestCase(100, TestName = "TokenIdEqualToTheVocabularySize")]
    [TestCase(-1, TestName = "TokenIdNegative")]
    public void TokenIdOutsideTheVocabularyIsRejected(int id)
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.LlamaTied);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var batch = TokenBatch.Pack([[5, id, 7]], PaddingSide.Right);
        var good = TokenBatch.Pack([[5, 6, 7]], PaddingSide.Right);
        using var ws = model.CreateWorkspace(1, 3);
        string problem = $"token id {id} is outside the vocabulary";

        AssertRejected(() => model.ScoreTokens(ws, batch, [0], [1], new float[1]), checkpoint.Folder, problem);
        AssertRejected(() => model.LogitsAt(ws, batch, [0], new float[100]), checkpoint.Folder, problem);
        AssertRejected(() => model.ScoreTokens(ws, good, [0], [id], new float[1]), checkpoint.Folder, problem);
        AssertRejected(() => new TokenGenerator(model).Generate([[5, id]], 2, endOfSequence: null), checkpoint.Folder, problem);
    }

    [Test]
    public void EmptyBatchesAndSequencesAreRejected()
    {
        AssertRejected(() => TokenBatch.Pack([], PaddingSide.Left), "empty batch");
        AssertRejected(() => TokenBatch.Pack([[]], PaddingSide.Right), "empty");
        AssertRejected(() => TokenBatch.Pack([[1, 2], []], PaddingSide.Left), "sequence 1 of the batch is empty");

        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Gpt2);
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        AssertRejected(() => new TokenGenerator(model).Generate([], 3, endOfSequence: null), "empty batch");
        AssertRejected(() => new TokenGenerator(model).Generate([[4], []], 3, endOfSequence: null), "sequence 1 of the batch is empty");
    }

    [TestCase(TinyVariant.OptPreLayerNorm)]
    [TestCase(TinyVariant.OptPostLayerNorm)]
    [TestCase(TinyVariant.Gpt2)]
    public void ASequenceLongerThanTheLearnedPositionsIsRejected(TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant); // max_position_embeddings / n_positions 64
        using var backend = new CpuBackend();
        using var model = Transformer.Load(checkpoint.Folder, backend);
        var longest = TokenBatch.Pack([Enumerable.Repeat(3, 64).ToArray()], PaddingSide.Right);
        var tooLong = TokenBatch.Pack([Enumerable.Repeat(3, 65).ToArray(), [4]], PaddingSide.Left);
        using var ws = model.CreateWorkspace(2, 65);

        Assert.DoesNotThrow(() => model.LogitsAt(ws, longest, [63], new float[100]), "64 tokens fit 64 positions");
        AssertRejected(() => model.LogitsAt(ws, tooLong, [64], new float[100]), checkpoint.Folder, "a sequence of 65 tokens exceeds the 64 positions");
        // Generation that would run past the table stops with the same error instead of reading outside it.
        AssertRejected(() => new TokenGenerator(model).Generate([Enumerable.Repeat(3, 60).ToArray()], 10, endOfSequence: null),
            checkpoint.Folder, "exceeds the 64 positions");
    }

    // ---- helpers ----

    private static void Load(string folder)
    {
        using var backend = new CpuBackend();
        using var model = Transformer.Load(folder, backend);
    }

    /// <summary>The action throws an InvalidInputException (or a subclass) whose message is one line containing every fragment.</summary>
    private static void AssertRejected(Action action, params string[] fragments)
    {
        var e = Assert.Throws(Is.InstanceOf<InvalidInputException>(), action)!;
        Assert.That(e.Message, Does.Not.Contain('\n').And.Not.Contain('\r'), "the message is one line");
        foreach (string fragment in fragments)
            Assert.That(e.Message, Does.Contain(fragment));
    }

    private static string EditConfig(TinyCheckpoint checkpoint, Action<JsonObject> edit)
    {
        var config = checkpoint.Config.DeepClone().AsObject();
        edit(config);
        string path = Path.Combine(checkpoint.Folder, "config.json");
        File.WriteAllText(path, config.ToJsonString());
        return path;
    }

    private static void RewriteWeights(TinyCheckpoint checkpoint, IEnumerable<KeyValuePair<string, ReferenceTensor>> weights) =>
        SafetensorsTestWriter.Write(Path.Combine(checkpoint.Folder, "model.safetensors"), checkpoint.Options.DType,
            weights.OrderBy(w => w.Key, StringComparer.Ordinal));
}
