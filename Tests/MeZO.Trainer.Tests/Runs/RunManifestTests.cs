using System.Text.Json;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Runs;

/// <summary>run.json as written and as read back: no nulls in it, and older files with nulls still resume.</summary>
public sealed class RunManifestTests
{
    // Every nullable setting at null (the defaults: the model's dtype and positions, no adapter, every weight trained).
    private static readonly TrainSettings Defaults = new() { Model = "/m", Task = "sst2", Data = "/d" };

    private static RunManifest Manifest(TrainSettings settings) => new()
    {
        Settings = settings,
        BaseModel = settings.Model,
        BaseWeightsSha256 = new Dictionary<string, string> { ["model.safetensors"] = "00" },
        EngineVersion = "0.1.0",
        TrainableParameters = 1,
        Created = DateTimeOffset.UnixEpoch,
    };

    [Test]
    public void RunJsonHoldsNoNullAndReadsBackTheSameSettings()
    {
        using var folder = new TemporaryFolder();
        Manifest(Defaults).Write(folder.Path);

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder.Path, RunManifest.FileName)));
        Assert.That(NullsIn(json.RootElement, "run.json"), Is.Empty);
        var read = RunManifest.Read(folder.Path);
        Assert.That(read.Settings.DifferencesFrom(Defaults), Is.Empty);
        Assert.That(read.BaseFilesSha256, Is.Null, "absent, as in run folders made before side files were recorded");
    }

    [Test]
    public void SetValuesOfTheNullableSettingsAreWrittenAndCompared()
    {
        using var folder = new TemporaryFolder();
        var settings = Defaults with { Storage = DType.BF16, MaxLength = 32, Peft = PeftKind.Lora, Trainable = "layers.0" };
        Manifest(settings).Write(folder.Path);

        string text = File.ReadAllText(Path.Combine(folder.Path, RunManifest.FileName));
        Assert.That(text, Does.Contain("\"d_type\": \"bf16\"").And.Contain("\"max_length\": 32")
            .And.Contain("\"peft\": \"lora\"").And.Contain("\"trainable\": \"layers.0\""));
        var read = RunManifest.Read(folder.Path).Settings;
        Assert.That(read.DifferencesFrom(settings), Is.Empty);
        // Resume names each of them when the given settings leave it at its default.
        Assert.That(read.DifferencesFrom(Defaults).Select(d => d.Setting),
            Is.EquivalentTo(new[] { "Storage", "MaxLength", "Peft", "Trainable" }));
    }

    /// <summary>run.json as written before nulls were left out: it resumes, and matches settings that leave them null.</summary>
    [Test]
    public void AnOlderRunJsonWithNullsIsReadAsTheDefaults()
    {
        using var folder = new TemporaryFolder();
        folder.Write(RunManifest.FileName, """
            {
              "settings": { "model": "/m", "task": "sst2", "data": "/d", "trainable": null, "d_type": null,
                            "max_length": null, "peft": null },
              "base_model": "/m", "base_weights_sha256": { "model.safetensors": "00" },
              "base_files_sha256": null, "data_files_sha256": null,
              "engine_version": "0.1.0", "trainable_parameters": 1, "created": "1970-01-01T00:00:00+00:00"
            }
            """);

        var read = RunManifest.Read(folder.Path);
        Assert.That(read.Settings.DifferencesFrom(Defaults), Is.Empty);
        Assert.That(read.Settings.DifferencesFrom(Defaults with { Peft = PeftKind.Lora }).Select(d => d.Setting), Is.EqualTo(new[] { "Peft" }));
        Assert.That(read.DataFilesSha256, Is.Null);

        // Written again (a resumed run extended to more steps), it loses its nulls.
        read.Write(folder.Path);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder.Path, RunManifest.FileName)));
        Assert.That(NullsIn(json.RootElement, "run.json"), Is.Empty);
    }

    private static IEnumerable<string> NullsIn(JsonElement e, string path) => e.ValueKind switch
    {
        JsonValueKind.Null => [path],
        JsonValueKind.Object => e.EnumerateObject().SelectMany(p => NullsIn(p.Value, path + "." + p.Name)),
        JsonValueKind.Array => e.EnumerateArray().SelectMany((item, i) => NullsIn(item, $"{path}[{i}]")),
        _ => [],
    };
}
