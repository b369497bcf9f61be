using System.Text.Json;
using MeZO.Engine;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Runs;

/// <summary>
/// Run files on which the run-files fuzz target (tools/MeZO.Fuzz) made resume or replay crash, minimised: each is now a
/// one-line <see cref="InvalidInputException"/> naming the file.
/// </summary>
public sealed class FuzzedRunFilesTests
{
    [TestCase("settings")]
    [TestCase("base_model")]
    [TestCase("base_weights_sha256")]
    [TestCase("engine_version")]
    public void ManifestWithANullWhereNoneIsAllowedIsRejected(string key)
    {
        // Deserialised as a null property; resume then threw NullReferenceException on manifest.Settings.
        using var folder = new TemporaryFolder();
        var manifest = new Dictionary<string, string>
        {
            ["settings"] = """{"model": "m", "task": "sst2", "data": "d"}""",
            ["base_model"] = "\"m\"",
            ["base_weights_sha256"] = "{}",
            ["engine_version"] = "\"0.1.0\"",
            ["trainable_parameters"] = "1",
            ["created"] = "\"2026-12-06T00:00:00+00:00\"",
        };
        manifest[key] = "null";
        string path = folder.Write(RunManifest.FileName, "{" + string.Join(", ", manifest.Select(p => $"\"{p.Key}\": {p.Value}")) + "}");

        var error = Assert.Throws<InvalidInputException>(() => RunManifest.Read(folder.Path))!;
        Assert.That(error.Message, Does.StartWith($"{path}: not a valid run manifest").And.Not.Contain('\n'));
    }

    [TestCase("model", "")]
    [TestCase("data", "  ")]
    [TestCase("model", "a\0b")]
    public void ManifestWhoseFolderIsNoPathIsRejected(string key, string value)
    {
        // Resume made the recorded folders full paths, and Path.GetFullPath threw ArgumentException on these.
        using var folder = new TemporaryFolder();
        var settings = new Dictionary<string, string> { ["model"] = "m", ["task"] = "sst2", ["data"] = "d" };
        settings[key] = value;
        string path = folder.Write(RunManifest.FileName, JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["settings"] = settings,
            ["base_model"] = "m",
            ["base_weights_sha256"] = new Dictionary<string, string>(),
            ["engine_version"] = "0.1.0",
            ["trainable_parameters"] = 1,
            ["created"] = "2026-12-06T00:00:00+00:00",
        }));

        var error = Assert.Throws<InvalidInputException>(() => RunManifest.Read(folder.Path))!;
        Assert.That(error.Message, Does.StartWith($"{path}: settings.{key} is not a folder path").And.Not.Contain('\n'));
    }

    [TestCase("d_type", "\"i32\"", "settings.d_type is i32, not a floating-point dtype")]
    [TestCase("compute", "\"i64\"", "settings.compute is i64, not a floating-point dtype")]
    [TestCase("activations", "\"i32\"", "activations is i32, not a floating-point dtype")]
    [TestCase("compute", "7", "not a valid run manifest")]
    [TestCase("optimizer", "9", "not a valid run manifest")]
    public void ManifestWithAnUnusableEnumValueIsRejected(string key, string json, string message)
    {
        // Resume would have handed these to the model loader, which threw ArgumentException (or used an undefined value).
        using var folder = new TemporaryFolder();
        string settings = key == "activations" ? "" : $", \"{key}\": {json}";
        string activations = key == "activations" ? $"\"activations\": {json}, " : "";
        string path = folder.Write(RunManifest.FileName,
            $"{{\"settings\": {{\"model\": \"m\", \"task\": \"sst2\", \"data\": \"d\"{settings}}}, {activations}" +
            "\"base_model\": \"m\", \"base_weights_sha256\": {}, \"engine_version\": \"0.1.0\", \"trainable_parameters\": 1, " +
            "\"created\": \"2026-12-06T00:00:00+00:00\"}");

        var error = Assert.Throws<InvalidInputException>(() => RunManifest.Read(folder.Path))!;
        Assert.That(error.Message, Does.StartWith($"{path}: {message}").And.Not.Contain('\n'));
    }
}
