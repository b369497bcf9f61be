using MeZO.Trainer.Default;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Training;

namespace MeZO.Trainer.Tests.Support;

/// <summary>
/// The bundled default (tiny OPT, synthetic SST-2-format data), generated once per test run under the temporary folder
/// rather than ~/.cache, with settings small enough for a test.
/// </summary>
internal static class BundledRun
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), "mezo-trainer-tests-" + Guid.NewGuid().ToString("N"));
    private static readonly Lazy<(string Model, string Data)> Folders = new(() => BundledDefault.Prepare(Root));

    public static string Model => Folders.Value.Model;
    public static string Data => Folders.Value.Data;

    /// <summary>A few steps on a small batch: every part of a run (validation, checkpoints, n-SPSA, decay) but quick.</summary>
    public static TrainSettings Small(long steps = 8) => BundledDefault.Settings(Model, Data) with
    {
        TrainExamples = 48,
        EvalExamples = 16,
        TestExamples = 16,
        Steps = steps,
        BatchSize = 4,
        MicroBatchSize = 4,
        Samples = 2,
        WeightDecay = 0.1,
        EvalEvery = 4,
        CheckpointEvery = 3,
        LogEvery = 2,
    };

    /// <summary>Deletes the generated folders (at the end of the test run).</summary>
    public static void Delete()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }

    /// <summary>Byte-for-byte contents of a model folder's weights.</summary>
    public static byte[] Weights(string modelFolder) => File.ReadAllBytes(Path.Combine(modelFolder, "model.safetensors"));
}
