using System.Text.Json.Nodes;
using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Checkpoints;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// Every path a weight takes between files and a backend — Load (with and without a dtype conversion), Save and
/// Restore — in chunks far smaller than the tensors, on a single-file OPT with a tied head and a two-shard Llama with
/// an untied one. Saved bytes are compared with the source's bytes as the test reads them, bit for bit.
/// </summary>
public sealed class WeightRoundTripTests
{
    /// <summary>8: the smallest chunk; 44: divides into 11 F32 or 22 16-bit elements but cuts converting chunks
    /// (6 or 4 bytes an element) unevenly; and the real chunk size, which holds each of these tensors whole.</summary>
    private static readonly int[] ChunkSizes = [8, 44, StagingBuffer.DefaultChunkBytes];

    private static readonly DType[] WeightTypes = [DType.F32, DType.F16, DType.BF16];

    private static IEnumerable<TestCaseData> Cases() =>
        from variant in new[] { TinyVariant.OptPostLayerNorm, TinyVariant.LlamaUntied }
        from type in WeightTypes
        from chunk in ChunkSizes
        select new TestCaseData(variant, type, chunk);

    [TestCaseSource(nameof(Cases))]
    public void LoadSaveLoadIsBitIdentical(TinyVariant variant, DType type, int chunkBytes)
    {
        using var tiny = TinyCheckpoints.Create(variant, Options(variant, type, seed: 1));
        using var folder = new ScratchFolder();
        string saved = Path.Combine(folder.Path, "saved");
        using var backend = new CpuBackend();

        using var first = Load(tiny.Folder, backend, storage: null, chunkBytes);
        first.Save(saved, [Path.Combine(tiny.Folder, "config.json")], chunkBytes);
        AssertSameTensors(StoredTensors.Read(saved), StoredTensors.Read(tiny.Folder));
        Assert.That(File.Exists(Path.Combine(saved, "model.safetensors.index.json")), Is.EqualTo(tiny.Options.Sharded), "the shard layout is kept");
        Assert.That(File.ReadAllBytes(Path.Combine(saved, "config.json")), Is.EqualTo(File.ReadAllBytes(Path.Combine(tiny.Folder, "config.json"))),
            "a config whose torch_dtype is already the saved dtype is copied byte for byte");

        using var second = Load(saved, backend, storage: null, chunkBytes);
        foreach (var p in first.Parameters)
            Assert.That(Bytes(second.Get(p.Name)), Is.EqualTo(Bytes(p.Tensor)), p.Name);
    }

    private static IEnumerable<TestCaseData> ConversionCases() =>
        from stored in WeightTypes
        from held in WeightTypes
        where stored != held
        from chunk in new[] { 8, 30 }
        select new TestCaseData(stored, held, chunk);

    [TestCaseSource(nameof(ConversionCases))]
    public void AConvertingLoadRoundsEachStoredValueOnceAndSavesTheHeldDtype(DType stored, DType held, int chunkBytes)
    {
        using var tiny = TinyCheckpoints.Create(TinyVariant.LlamaUntied, Options(TinyVariant.LlamaUntied, stored, seed: 1));
        using var folder = new ScratchFolder();
        string saved = Path.Combine(folder.Path, "saved");
        using var backend = new CpuBackend();

        using (var weights = Load(tiny.Folder, backend, held, chunkBytes))
            weights.Save(saved, [Path.Combine(tiny.Folder, "config.json")], chunkBytes);

        // config.json says what the weights are stored in now (transformers loads torch_dtype="auto" by it); the rest of it
        // is the source's.
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(saved, "config.json")))!.AsObject();
        var source = JsonNode.Parse(File.ReadAllText(Path.Combine(tiny.Folder, "config.json")))!.AsObject();
        Assert.That((string?)config["torch_dtype"], Is.EqualTo(held.TorchName()));
        Assert.That((string?)source["torch_dtype"], Is.EqualTo(stored.TorchName()), "the source's config says the stored dtype");
        config.Remove("torch_dtype");
        source.Remove("torch_dtype");
        Assert.That(JsonNode.DeepEquals(config, source), Is.True, "every other entry of config.json is kept");

        var written = StoredTensors.Read(saved);
        Assert.That(written.Keys, Is.EquivalentTo(tiny.Weights.Keys));
        foreach (var (name, reference) in tiny.Weights)
        {
            // tiny.Weights holds the stored values exactly; the test's own rounding gives the held bytes to expect.
            Assert.That(written[name].DType, Is.EqualTo(held.SafetensorsName()), name);
            Assert.That(written[name].Bytes, Is.EqualTo(StoredTensors.Encode(held, reference.Values)), name);
        }

        if (held != DType.F32) return;
        // Widening to F32 is exact, so loading the F32 copy back as the stored dtype must give the source's bytes again.
        string narrowed = Path.Combine(folder.Path, "narrowed");
        using (var weights = Load(saved, backend, stored, chunkBytes))
            weights.Save(narrowed, [], chunkBytes);
        AssertSameTensors(StoredTensors.Read(narrowed), StoredTensors.Read(tiny.Folder));
    }

    /// <summary>
    /// Each weight file's __metadata__ (transformers writes {"format": "pt"}, other tools add their own keys) is written
    /// back into the file of the same name; "format" is added where the source had none, as transformers' loader needs it.
    /// </summary>
    [Test]
    public void SavingKeepsEachSourceFilesMetadata()
    {
        using var tiny = TinyCheckpoints.Create(TinyVariant.LlamaUntied, Options(TinyVariant.LlamaUntied, DType.F32, seed: 1));
        using var folder = new ScratchFolder();
        string source = Path.Combine(folder.Path, "source"), saved = Path.Combine(folder.Path, "saved");
        IReadOnlyDictionary<string, string> shardOf;
        using (var reader = CheckpointReader.Open(tiny.Folder)) shardOf = reader.ShardOf;
        string[] shards = shardOf.Values.Distinct().Order(StringComparer.Ordinal).ToArray();
        Assert.That(shards, Has.Length.EqualTo(2), "a sharded source");
        var tensors = StoredTensors.Read(tiny.Folder).Select(t => TensorToWrite.FromBytes(t.Key,
            DTypeInfo.TryParseSafetensorsName(t.Value.DType, out var type) ? type : throw new AssertionException(t.Value.DType),
            t.Value.Shape, t.Value.Bytes)).ToArray();
        CheckpointWriter.WriteModelFolder(source, tensors, shardOf, [Path.Combine(tiny.Folder, "config.json")],
            new Dictionary<string, IReadOnlyDictionary<string, string>>
            {
                [shards[0]] = new Dictionary<string, string> { ["format"] = "pt", ["origin"] = "first" },
                [shards[1]] = new Dictionary<string, string> { ["origin"] = "second" },
            });

        using var backend = new CpuBackend();
        using (var weights = Load(source, backend, storage: null, StagingBuffer.DefaultChunkBytes))
            weights.Save(saved, []);

        using var first = SafetensorsFile.Open(Path.Combine(saved, shards[0]));
        using var second = SafetensorsFile.Open(Path.Combine(saved, shards[1]));
        Assert.That(first.Metadata, Is.EquivalentTo(new Dictionary<string, string> { ["format"] = "pt", ["origin"] = "first" }));
        Assert.That(second.Metadata, Is.EquivalentTo(new Dictionary<string, string> { ["format"] = "pt", ["origin"] = "second" }));
    }

    [TestCase(DType.F32, 8)]
    [TestCase(DType.BF16, 8)]
    [TestCase(DType.BF16, 30)]
    public void RestoreOverwritesEveryParameterWithTheSavedBytes(DType type, int chunkBytes)
    {
        using var start = TinyCheckpoints.Create(TinyVariant.LlamaUntied, Options(TinyVariant.LlamaUntied, type, seed: 1));
        using var other = TinyCheckpoints.Create(TinyVariant.LlamaUntied, Options(TinyVariant.LlamaUntied, type, seed: 2));
        using var backend = new CpuBackend();
        using var weights = Load(start.Folder, backend, storage: null, chunkBytes);

        weights.Restore(other.Folder, chunkBytes);

        var expected = StoredTensors.Read(other.Folder);
        foreach (var p in weights.Parameters)
            Assert.That(Bytes(p.Tensor), Is.EqualTo(expected[p.Name].Bytes), p.Name);
    }

    private static TinyCheckpointOptions Options(TinyVariant variant, DType type, int seed) =>
        new() { DType = type, Seed = seed, Sharded = variant == TinyVariant.LlamaUntied };

    private static ModelWeights Load(string folder, IBackend backend, DType? storage, int chunkBytes)
    {
        using var reader = CheckpointReader.Open(folder);
        return ModelWeights.Load(reader, ModelConfigReader.Read(folder), backend, storage, chunkBytes);
    }

    private static byte[] Bytes(Tensor t)
    {
        var bytes = new byte[t.ByteCount];
        t.Backend.Download<byte>(t, bytes);
        return bytes;
    }

    private static void AssertSameTensors(Dictionary<string, StoredTensor> actual, Dictionary<string, StoredTensor> expected)
    {
        Assert.That(actual.Keys, Is.EquivalentTo(expected.Keys));
        foreach (var (name, e) in expected)
        {
            Assert.That(actual[name].DType, Is.EqualTo(e.DType), name);
            Assert.That(actual[name].Shape, Is.EqualTo(e.Shape), name);
            Assert.That(actual[name].Bytes, Is.EqualTo(e.Bytes), name);
        }
    }
}
