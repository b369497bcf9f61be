using MeZO.Engine;
using MeZO.Engine.Adapters;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Tensors;
using MeZO.Tests.Common;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// Runs that train a PEFT adapter: the run folder holds adapter folders, the base model is never written, and replay
/// and resume rebuild the adapter bit for bit, as they rebuild full weights.
/// </summary>
[Category(TestSpeed.Slow)]
public class AdapterRunTests
{
    private static TrainSettings Settings(PeftKind peft, long steps = 8) => BundledRun.Small(steps) with
    {
        Peft = peft,
        // Rates at which each adapter visibly moves in a few steps (LoRA's B starts at zero, a prefix at activations).
        LearningRate = peft == PeftKind.Lora ? 5e-2 : 1.0,
        Eps = peft == PeftKind.Lora ? 1e-2 : 1e-1,
    };

    [TestCase(PeftKind.Lora)]
    [TestCase(PeftKind.Prefix)]
    public void ATrainedAdapterReplaysBitForBitAndLeavesTheBaseUntouched(PeftKind peft)
    {
        using var folder = new TemporaryFolder();
        string run = Path.Combine(folder.Path, "run"), rebuilt = Path.Combine(folder.Path, "rebuilt");
        byte[] baseBefore = BundledRun.Weights(BundledRun.Model);
        new TrainingRun(Settings(peft), run, resume: false, TextWriter.Null).Run();

        string model = Path.Combine(run, "model");
        Assert.That(File.Exists(Path.Combine(model, AdapterFolder.ConfigFile)), Is.True, "model/ is an adapter folder");
        Assert.That(File.Exists(Path.Combine(model, CheckpointReader.SingleFileName)), Is.False, "and holds no copy of the base");
        Assert.That(AdapterFolder.Describe(model).Kind, Is.EqualTo(peft == PeftKind.Lora ? AdapterKind.Lora : AdapterKind.Prefix));
        Assert.That(BundledRun.Weights(BundledRun.Model), Is.EqualTo(baseBefore), "the base model's file is unchanged");

        var result = Replay.Run(BundledRun.Model, run, rebuilt, backendName: null);

        Assert.That(result.Records, Is.EqualTo(16));
        byte[] trained = AdapterBytes(model);
        Assert.That(AdapterBytes(rebuilt), Is.EqualTo(trained));
        Assert.That(File.ReadAllText(Path.Combine(rebuilt, AdapterFolder.ConfigFile)), Is.EqualTo(File.ReadAllText(Path.Combine(model, AdapterFolder.ConfigFile))));
        // The adapter moved away from its start: replay rebuilt a trained adapter, not an initial one.
        using var backend = new Engine.Backends.Cpu.CpuBackend();
        using var start = Engine.Models.Transformer.Load(BundledRun.Model, backend);
        using var initial = PeftSetup.Attach(start, Settings(peft))!;
        Assert.That(Values(initial.Parameters), Is.Not.EqualTo(Values(Load(rebuilt, start, out var loaded))));
        loaded.Dispose();
    }

    [TestCase(PeftKind.Lora)]
    [TestCase(PeftKind.Prefix)]
    public void AResumedAdapterRunEndsAsTheUninterruptedOne(PeftKind peft)
    {
        using var folder = new TemporaryFolder();
        string reference = Path.Combine(folder.Path, "uninterrupted"), run = Path.Combine(folder.Path, "stopped");
        var settings = Settings(peft, steps: 10) with { CheckpointEvery = 4 };
        var uninterrupted = new TrainingRun(settings, reference, resume: false, TextWriter.Null).Run();

        // Stopped after step 6: the checkpoint of step 4 is restored from checkpoint/ and steps 4–5 replayed.
        Assert.That(() => new TrainingRun(settings, run, resume: false, TextWriter.Null, new StopAt(6)).Run(), Throws.InstanceOf<RunStopped>());
        Assert.That(File.Exists(Path.Combine(run, "checkpoint", AdapterFolder.WeightsFile)), Is.True, "the checkpoint is an adapter folder");
        var resumed = new TrainingRun(settings, run, resume: true, TextWriter.Null).Run();

        Assert.That(AdapterBytes(Path.Combine(run, "model")), Is.EqualTo(AdapterBytes(Path.Combine(reference, "model"))));
        Assert.That((resumed.BestStep, resumed.Test?.Value), Is.EqualTo((uninterrupted.BestStep, uninterrupted.Test?.Value)));
    }

    [Test]
    public void PeftBesideTrainableIsRefusedWithOneLine()
    {
        using var folder = new TemporaryFolder();
        var settings = Settings(PeftKind.Lora) with { Trainable = "q_proj" };
        Assert.That(() => new TrainingRun(settings, Path.Combine(folder.Path, "run"), resume: false, TextWriter.Null).Run(),
            Throws.InstanceOf<InvalidInputException>().With.Message.Contains("--trainable").And.Message.Contains("--peft"));
    }

    private static byte[] AdapterBytes(string folder) => File.ReadAllBytes(Path.Combine(folder, AdapterFolder.WeightsFile));

    private static IReadOnlyList<Engine.Models.NamedTensor> Load(string folder, Engine.Models.Transformer model, out IAdapter adapter)
    {
        model.Lora = null;
        model.Prefix = null;
        adapter = PeftSetup.Load(model, folder);
        return adapter.Parameters;
    }

    private static float[] Values(IReadOnlyList<Engine.Models.NamedTensor> parameters) =>
        parameters.SelectMany(p =>
        {
            var values = new float[p.Tensor.ElementCount];
            p.Tensor.Backend.Download<float>(p.Tensor, values);
            return values;
        }).ToArray();
}
