using System.Text.Json.Nodes;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Tests.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Runs;

/// <summary>The model folders a run leaves (model/, checkpoint/, best/) as transformers reads them.</summary>
public sealed class SavedModelFolderTests
{
    [Test]
    public void ABf16RunSavesModelsThatSayBfloat16AndKeepTheBaseMetadata()
    {
        using var folder = new TemporaryFolder();
        // The bundled model again, with metadata of its own beside transformers' "format".
        string baseModel = Path.Combine(folder.Path, "base");
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["origin"] = "saved-model-folder-test" };
        using (var reader = CheckpointReader.Open(BundledRun.Model))
        {
            var tensors = reader.TensorNames.Select(n => reader.Get(n))
                .Select(t => TensorToWrite.FromBytes(t.Name, t.DType, t.Shape, t.Bytes.ToArray())).ToArray();
            CheckpointWriter.WriteModelFolder(baseModel, tensors, shardOf: null, RunFolder.ModelSideFiles(BundledRun.Model),
                new Dictionary<string, IReadOnlyDictionary<string, string>> { [CheckpointReader.SingleFileName] = metadata });
        }
        Assert.That((string?)Config(baseModel)["torch_dtype"], Is.EqualTo("float32"), "the base is float32");

        string run = Path.Combine(folder.Path, "run");
        new TrainingRun(BundledRun.Small(8) with { Model = baseModel, Storage = DType.BF16 }, run, resume: false, TextWriter.Null).Run();

        string[] saved = new[] { "model", "checkpoint", "best" }.Select(f => Path.Combine(run, f)).Where(Directory.Exists).ToArray();
        Assert.That(saved.Select(Path.GetFileName), Is.SupersetOf(new[] { "model", "checkpoint" }));
        foreach (string model in saved)
        {
            Assert.That((string?)Config(model)["torch_dtype"], Is.EqualTo("bfloat16"), model);
            using var weights = SafetensorsFile.Open(Path.Combine(model, CheckpointReader.SingleFileName));
            Assert.That(weights.Entries.Select(e => e.DType).Distinct(), Is.EqualTo(new[] { DType.BF16 }), model);
            Assert.That(weights.Metadata, Is.EquivalentTo(metadata), model);
        }
    }

    private static JsonObject Config(string model) => JsonNode.Parse(File.ReadAllText(Path.Combine(model, "config.json")))!.AsObject();
}
