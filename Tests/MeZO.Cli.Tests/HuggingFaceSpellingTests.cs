using System.Text.Json;
using MeZO.Tests.Common;
using MeZO.Trainer.Default;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// Hugging Face Trainer's option names on `mezo train` set exactly what ours do: two runs of the bundled default, one
/// spelled each way, record the same settings in run.json.
/// </summary>
[Category(TestSpeed.Slow)]
public class HuggingFaceSpellingTests : BundledDefaultFixture
{

    public static IEnumerable<TestCaseData> Spellings()
    {
        yield return new TestCaseData(
            new[] { "--lr", "2e-3", "--steps", "2", "--weight-decay", "0.01", "--eval-every", "2", "--checkpoint-every", "1",
                "--log-every", "1", "--lr-schedule", "linear", "--batch-size", "4", "--micro-batch-size", "2" },
            new[] { "--learning_rate", "2e-3", "--max_steps", "2", "--weight_decay", "0.01", "--eval_steps", "2", "--save_steps", "1",
                "--logging_steps", "1", "--lr_scheduler_type", "linear", "--per_device_train_batch_size", "2",
                "--gradient_accumulation_steps", "2" }).SetName("ZoSgd");
        yield return new TestCaseData(
            new[] { "--optimizer", "adamw", "--steps", "1", "--adam-beta1", "0.8", "--adam-beta2", "0.99", "--adam-epsilon", "1e-6",
                "--max-grad-norm", "0.5", "--gradient-checkpointing", "--batch-size", "4" },
            new[] { "--optimizer", "adamw", "--max_steps", "1", "--adam_beta1", "0.8", "--adam_beta2", "0.99", "--adam_epsilon", "1e-6",
                "--max_grad_norm", "0.5", "--gradient_checkpointing", "--per_device_train_batch_size", "4" }).SetName("AdamW");
    }

    [TestCaseSource(nameof(Spellings))]
    public void TrainerSpellingsRecordTheSameSettingsAsOurs(string[] ours, string[] huggingFace)
    {
        string native = Path.Combine(_root, "ours-" + Guid.NewGuid().ToString("N")[..8]);
        string trainer = Path.Combine(_root, "hf-" + Guid.NewGuid().ToString("N")[..8]);
        string[] common = ["train", "--model", _model, "--task", "sst2", "--data", _data, "--train-examples", "16", "--eval-examples", "4",
            "--test-examples", "4"];

        var a = MezoProcess.Run([.. common, "--out", native, .. ours]);
        var b = MezoProcess.Run([.. common, "--output_dir", trainer, .. huggingFace]);

        Assert.That(a.ExitCode, Is.Zero, a.Error);
        Assert.That(b.ExitCode, Is.Zero, b.Error);
        string settingsA = Settings(native), settingsB = Settings(trainer);
        Assert.That(settingsB, Is.EqualTo(settingsA));
        // The settings the options set, not the defaults they would be without them.
        Assert.That(settingsA, Does.Contain(ours[1] == "adamw" ? "\"adam_beta1\": 0.8" : "\"learning_rate\": 0.002"));
        Assert.That(settingsA, Does.Contain("\"batch_size\": 4"));
    }

    private static string Settings(string run)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "run.json")));
        return manifest.RootElement.GetProperty("settings").ToString();
    }
}
