using System.Text.Json;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Checkpoints;

/// <summary>Model folders: single file and sharded layouts written and read back, and every inconsistent folder refused.</summary>
public class CheckpointFolderTests
{
    private static readonly Dictionary<string, string> TwoShards = new()
    {
        ["model.embed.weight"] = "model-00001-of-00002.safetensors",
        ["model.layers.0.weight"] = "model-00001-of-00002.safetensors",
        ["model.layers.1.weight"] = "model-00002-of-00002.safetensors",
        ["lm_head.weight"] = "model-00002-of-00002.safetensors",
    };

    [Test]
    public void ShardedFolderRoundTripsWithItsIndexAndExtraFiles()
    {
        using var folder = new ScratchFolder();
        string config = folder.WriteText("base/config.json", """{"model_type": "llama"}""");
        string tokenizer = folder.WriteText("base/tokenizer.json", "{}");
        string model = Path.Combine(folder.Path, "out", "model");

        CheckpointWriter.WriteModelFolder(model, ShardedTensors(), TwoShards, [config, tokenizer]);

        Assert.That(Directory.GetFileSystemEntries(model).Select(Path.GetFileName).Order(StringComparer.Ordinal), Is.EqualTo(new[]
        {
            "config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json",
            "tokenizer.json",
        }));
        // Copied with torch_dtype added, the dtype of most elements below: F32 (12 elements; BF16 9, F16 4).
        Assert.That(File.ReadAllText(Path.Combine(model, "config.json")),
            Is.EqualTo("{\n  \"model_type\": \"llama\",\n  \"torch_dtype\": \"float32\"\n}\n"));
        using (var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(model, "model.safetensors.index.json"))))
        {
            // 4·3·4 + 2·3·2 + 2·2·2 + 1·3·2 bytes, counted by hand from the shapes below.
            Assert.That(index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64(), Is.EqualTo(48 + 12 + 8 + 6));
            var weightMap = index.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
            Assert.That(weightMap, Is.EquivalentTo(TwoShards));
        }

        using var reader = CheckpointReader.Open(model);
        Assert.That(reader.Directory, Is.EqualTo(model));
        Assert.That(reader.WeightFiles, Is.EqualTo(new[]
        {
            Path.Combine(model, "model-00001-of-00002.safetensors"), Path.Combine(model, "model-00002-of-00002.safetensors"),
        }));
        Assert.That(reader.TensorNames, Is.EqualTo(new[] { "lm_head.weight", "model.embed.weight", "model.layers.0.weight", "model.layers.1.weight" }));
        Assert.That(reader.ShardOf, Is.EquivalentTo(TwoShards));
        var layer1 = reader.Get("model.layers.1.weight");
        Assert.That(layer1.DType, Is.EqualTo(DType.F16));
        Assert.That(layer1.Shape, Is.EqualTo(new long[] { 2, 2 }));
        Assert.That(layer1.FilePath, Is.EqualTo(Path.Combine(model, "model-00002-of-00002.safetensors")));
        var values = new float[4];
        layer1.CopyToSingles(values);
        Assert.That(values, Is.EqualTo(new[] { 0.5f, -1f, 2f, 1024f }), "exactly representable in F16");
        Assert.That(reader.Contains("lm_head.weight"), Is.True);
        Assert.That(reader.Contains("model.norm.weight"), Is.False);
        using var shard = SafetensorsFile.Open(Path.Combine(model, "model-00001-of-00002.safetensors"));
        Assert.That(shard.Metadata["format"], Is.EqualTo("pt"), "transformers refuses a safetensors file whose metadata lacks format");
    }

    /// <summary>transformers 4.56 names the entry "dtype" and still reads torch_dtype: both must say the saved dtype.</summary>
    [Test]
    public void ConfigDtypeEntriesSayTheSavedDtypeAndTheRestIsKept()
    {
        using var folder = new ScratchFolder();
        string config = folder.WriteText("base/config.json",
            """{"model_type": "llama", "torch_dtype": "float32", "dtype": "float32", "rope_theta": 1e4, "note": "ünï"}""");
        string model = Path.Combine(folder.Path, "model");

        CheckpointWriter.WriteModelFolder(model, [TensorToWrite.FromSingles("w", DType.BF16, [2], [1f, 2f])], shardOf: null, [config]);

        Assert.That(File.ReadAllText(Path.Combine(model, "config.json")), Is.EqualTo("""
            {
              "model_type": "llama",
              "torch_dtype": "bfloat16",
              "dtype": "bfloat16",
              "rope_theta": 1e4,
              "note": "ünï"
            }

            """));
    }

    [Test]
    public void WritingOverAnExistingFolderReplacesIt()
    {
        using var folder = new ScratchFolder();
        string model = Path.Combine(folder.Path, "model");
        CheckpointWriter.WriteModelFolder(model, ShardedTensors(), TwoShards, []);
        File.WriteAllText(Path.Combine(model, "stale.txt"), "from the old folder");

        CheckpointWriter.WriteModelFolder(model, [TensorToWrite.FromSingles("only", DType.F32, [1], [7f])], shardOf: null, []);

        Assert.That(folder.Listing(), Is.EqualTo(new[] { "model", Path.Combine("model", "model.safetensors") }));
        using var reader = CheckpointReader.Open(model);
        Assert.That(reader.TensorNames, Is.EqualTo(new[] { "only" }));
        Assert.That(reader.ShardOf["only"], Is.EqualTo("model.safetensors"));
    }

    [Test]
    public void SingleFileWinsOverAnIndexAsInTransformers()
    {
        using var folder = new ScratchFolder();
        string model = Path.Combine(folder.Path, "model");
        CheckpointWriter.WriteModelFolder(model, [TensorToWrite.FromSingles("w", DType.F32, [1], [1f])], null, []);
        folder.WriteText("model/model.safetensors.index.json", "not even JSON");
        using var reader = CheckpointReader.Open(model);
        Assert.That(reader.TensorNames, Is.EqualTo(new[] { "w" }));
    }

    [Test]
    public void MissingTensorNamesTheTensorAndTheFolder()
    {
        using var folder = new ScratchFolder();
        string model = Path.Combine(folder.Path, "model");
        CheckpointWriter.WriteModelFolder(model, [TensorToWrite.FromSingles("w", DType.F32, [1], [1f])], null, []);
        using var reader = CheckpointReader.Open(model);
        var error = Assert.Throws<CheckpointFormatException>(() => reader.Get("model.norm.weight"))!;
        Assert.That(error.Message, Is.EqualTo($"{model}: tensor 'model.norm.weight': not in the checkpoint"));
    }

    [Test]
    public void FolderWithOnlyAPytorchPickleIsRefusedClearly()
    {
        using var folder = new ScratchFolder();
        folder.WriteText("model/config.json", "{}");
        folder.WriteBytes("model/pytorch_model.bin", [0x80, 0x02]);
        string model = Path.Combine(folder.Path, "model");
        AssertRefused(() => CheckpointReader.Open(model), model, null, "pytorch_model.bin", "not supported", "safetensors");
    }

    [Test]
    public void FolderWithoutWeightsIsRefused()
    {
        using var folder = new ScratchFolder();
        folder.WriteText("model/config.json", "{}");
        string model = Path.Combine(folder.Path, "model");
        AssertRefused(() => CheckpointReader.Open(model), model, null, "no model.safetensors or model.safetensors.index.json");
    }

    [Test]
    public void MissingFolderIsRefused()
    {
        using var folder = new ScratchFolder();
        string model = Path.Combine(folder.Path, "absent");
        AssertRefused(() => CheckpointReader.Open(model), model, null, "does not exist");
    }

    [Test]
    public void DamagedSingleFileIsRefusedNamingIt()
    {
        using var folder = new ScratchFolder();
        string file = folder.WriteBytes("model/model.safetensors", RawSafetensors.Build("""{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", new byte[8]));
        AssertRefused(() => CheckpointReader.Open(Path.Combine(folder.Path, "model")), file, "w", "needs 12 bytes");
    }

    // The damaged index cases: (index text, tensor named in the error or null, words of the problem).
    [TestCase("{\"weight_map\": {", null, "not valid JSON")]
    [TestCase("[]", null, "not a JSON object")]
    [TestCase("""{"metadata": {"total_size": 74}}""", null, "no 'weight_map'")]
    [TestCase("""{"weight_map": ["a.safetensors"]}""", null, "'weight_map' is not a JSON object")]
    [TestCase("""{"weight_map": {"w": 1}}""", "w", "not a file name")]
    [TestCase("""{"weight_map": {"w": "../elsewhere/a.safetensors"}}""", "w", "not a file name in the model folder")]
    [TestCase("""{"weight_map": {"w": "a.safetensors", "w": "b.safetensors"}}""", "w", "listed twice", "'a.safetensors'", "'b.safetensors'")]
    [TestCase("""{"weight_map": {"x": "a.safetensors", "w": "a.safetensors", "v": "absent.safetensors"}}""", null, "shard 'absent.safetensors'", "missing")]
    [TestCase("""{"weight_map": {"x": "a.safetensors", "w": "a.safetensors", "v": "b.safetensors", "extra": "b.safetensors"}}""",
        "extra", "listed for shard 'b.safetensors'", "does not contain it")]
    public void DamagedIndexIsRefusedNamingIt(string indexText, string? tensor, params string[] problem)
    {
        using var folder = new ScratchFolder();
        string model = WriteShards(folder);
        string index = folder.WriteText("model/model.safetensors.index.json", indexText);
        AssertRefused(() => CheckpointReader.Open(model), index, tensor, problem);
    }

    [Test]
    public void TensorStoredInTwoShardsIsRefused()
    {
        using var folder = new ScratchFolder();
        string model = WriteShards(folder);
        // b.safetensors holds v; the third shard c holds u, as the index says, and a second copy of v.
        SafetensorsWriter.Write(Path.Combine(model, "c.safetensors"),
            [TensorToWrite.FromSingles("u", DType.F32, [1], [4f]), TensorToWrite.FromSingles("v", DType.F32, [1], [3f])]);
        folder.WriteText("model/model.safetensors.index.json",
            """{"weight_map": {"x": "a.safetensors", "w": "a.safetensors", "v": "b.safetensors", "u": "c.safetensors"}}""");
        AssertRefused(() => CheckpointReader.Open(model), Path.Combine(model, "c.safetensors"), "v", "also stored in 'b.safetensors'");
    }

    [Test]
    public void TensorInAShardThatTheIndexPlacesElsewhereIsRefused()
    {
        using var folder = new ScratchFolder();
        string model = WriteShards(folder);
        folder.WriteText("model/model.safetensors.index.json",
            """{"weight_map": {"x": "a.safetensors", "w": "b.safetensors", "v": "b.safetensors"}}""");
        AssertRefused(() => CheckpointReader.Open(model), Path.Combine(model, "a.safetensors"), "w", "places it in 'b.safetensors'");
    }

    [Test]
    public void TensorInAShardButNotInTheIndexIsRefused()
    {
        using var folder = new ScratchFolder();
        string model = WriteShards(folder);
        folder.WriteText("model/model.safetensors.index.json", """{"weight_map": {"x": "a.safetensors", "v": "b.safetensors"}}""");
        AssertRefused(() => CheckpointReader.Open(model), Path.Combine(model, "a.safetensors"), "w", "missing from model.safetensors.index.json");
    }

    [Test]
    public void DamagedShardIsRefusedNamingTheShard()
    {
        using var folder = new ScratchFolder();
        string model = WriteShards(folder);
        string shard = folder.WriteBytes("model/b.safetensors", [1, 2, 3]);
        folder.WriteText("model/model.safetensors.index.json",
            """{"weight_map": {"x": "a.safetensors", "w": "a.safetensors", "v": "b.safetensors"}}""");
        AssertRefused(() => CheckpointReader.Open(model), shard, null, "too short");
    }

    [Test]
    public void HandWrittenIndexOverHandPlacedShardsOpens()
    {
        // The control for the damaged-index cases: the same shards with a consistent index.
        using var folder = new ScratchFolder();
        string model = WriteShards(folder);
        folder.WriteText("model/model.safetensors.index.json",
            """{"metadata": {}, "weight_map": {"x": "a.safetensors", "w": "a.safetensors", "v": "b.safetensors"}}""");
        using var reader = CheckpointReader.Open(model);
        Assert.That(reader.TensorNames, Is.EqualTo(new[] { "v", "w", "x" }));
        Assert.That(reader.ShardOf["w"], Is.EqualTo("a.safetensors"));
    }

    /// <summary>model/a.safetensors holds x and w, model/b.safetensors holds v; no index yet.</summary>
    private static string WriteShards(ScratchFolder folder)
    {
        string model = Path.Combine(folder.Path, "model");
        Directory.CreateDirectory(model);
        SafetensorsWriter.Write(Path.Combine(model, "a.safetensors"),
            [TensorToWrite.FromSingles("x", DType.F32, [1], [1f]), TensorToWrite.FromSingles("w", DType.F32, [1], [2f])]);
        SafetensorsWriter.Write(Path.Combine(model, "b.safetensors"), [TensorToWrite.FromSingles("v", DType.F32, [1], [3f])]);
        return model;
    }

    private static List<TensorToWrite> ShardedTensors() =>
    [
        TensorToWrite.FromSingles("model.embed.weight", DType.F32, [4, 3], Enumerable.Range(0, 12).Select(i => (float)i).ToArray()),
        TensorToWrite.FromSingles("model.layers.0.weight", DType.BF16, [2, 3], [1, 2, 3, 4, 5, 6]),
        TensorToWrite.FromSingles("model.layers.1.weight", DType.F16, [2, 2], [0.5f, -1f, 2f, 1024f]),
        TensorToWrite.FromSingles("lm_head.weight", DType.BF16, [1, 3], [-1, -2, -3]),
    ];

    private static void AssertRefused(Action open, string path, string? tensor, params string[] problem)
    {
        var error = Assert.Throws<CheckpointFormatException>(open)!;
        Assert.That(error.FilePath, Is.EqualTo(path));
        Assert.That(error.TensorName, Is.EqualTo(tensor));
        Assert.That(error.Message, Does.StartWith(tensor is null ? $"{path}: " : $"{path}: tensor '{tensor}': "));
        Assert.That(error.Message, Does.Not.Contain("\n"));
        foreach (string words in problem)
            Assert.That(error.Message, Does.Contain(words));
    }
}
