using MeZO.Engine.Adapters;
using MeZO.Engine.Checkpoints;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// `mezo train --optimizer adamw --peft lora|prefix`: backprop trains the adapter alone, the base frozen, in the run
/// folder MeZO's PEFT runs use (adapter folders for model/, best/ and checkpoint/), and a stopped run resumes to the
/// same adapter and optimizer state, the state stored under the adapter's parameter names.
/// </summary>
public class FirstOrderAdapterRunTests
{
    private static TrainSettings AdamW(PeftKind peft, long steps) => BundledRun.Small(steps) with
    {
        Optimizer = OptimizerKind.AdamW, Peft = peft, Samples = 1, WeightDecay = 0.01,
        // Rates at which each adapter learns the task in a hundred steps (measured: LoRA 1.0 at 1e-2; the prefix 0.57 at
        // 1e-2, 0.92 at 1e-1, 1.0 at 3e-1): a prefix's values are activations of order one, LoRA's B starts at zero.
        LearningRate = peft == PeftKind.Lora ? 1e-2 : 3e-1,
    };

    [TestCase(PeftKind.Lora)]
    [TestCase(PeftKind.Prefix)]
    public void AdamWLearnsTheBundledTaskAndLeavesTheBaseUntouched(PeftKind peft)
    {
        using var folder = new TemporaryFolder();
        string run = Path.Combine(folder.Path, "run");
        byte[] baseBefore = BundledRun.Weights(BundledRun.Model);
        var settings = AdamW(peft, 100) with
        {
            TrainExamples = 256, TestExamples = 128, BatchSize = 16, MicroBatchSize = 16, EvalExamples = 0, CheckpointEvery = 0,
        };
        var result = new TrainingRun(settings, run, resume: false, TextWriter.Null).Run();
        TestContext.Out.WriteLine($"test accuracy {result.TestBefore?.Value} → {result.Test?.Value}");

        Assert.That(result.TestBefore!.Value, Is.LessThan(0.7), "the untrained model does not already know the task");
        Assert.That(result.Test!.Value, Is.GreaterThanOrEqualTo(0.9));
        string model = Path.Combine(run, "model");
        Assert.That(AdapterFolder.Describe(model).Kind, Is.EqualTo(peft == PeftKind.Lora ? AdapterKind.Lora : AdapterKind.Prefix), "model/ is an adapter folder");
        Assert.That(File.Exists(Path.Combine(model, CheckpointReader.SingleFileName)), Is.False, "and holds no copy of the base");
        Assert.That(BundledRun.Weights(BundledRun.Model), Is.EqualTo(baseBefore), "the base model's file is unchanged");
    }

    [TestCase(PeftKind.Lora)]
    [TestCase(PeftKind.Prefix)]
    public void AStoppedAdapterRunResumesToTheSameAdapterAndState(PeftKind peft)
    {
        using var folder = new TemporaryFolder();
        string reference = Path.Combine(folder.Path, "uninterrupted"), run = Path.Combine(folder.Path, "stopped");
        var settings = AdamW(peft, 9);
        new TrainingRun(settings, reference, resume: false, TextWriter.Null).Run();
        // Stopped after step 6's update, before its checkpoint: the last is at step 3, so steps 3–5 are taken again from
        // its adapter and state.
        Assert.That(() => new TrainingRun(settings, run, resume: false, TextWriter.Null, new StopAt(6)).Run(), Throws.InstanceOf<RunStopped>());
        Assert.That(File.Exists(Path.Combine(run, "checkpoint", AdapterFolder.WeightsFile)), Is.True, "the checkpoint is an adapter folder");
        new TrainingRun(settings with { GradientCheckpointing = true }, run, resume: true, TextWriter.Null).Run();

        byte[] trained = AdapterBytes(Path.Combine(reference, "model"));
        Assert.That(AdapterBytes(Path.Combine(run, "model")), Is.EqualTo(trained), "resumed (with layers recomputed) to the same bits");
        using (var backend = new Engine.Backends.Cpu.CpuBackend())
        using (var start = Engine.Models.Transformer.Load(BundledRun.Model, backend))
        using (var initial = PeftSetup.Attach(start, settings)!)
        {
            string initialFolder = Path.Combine(folder.Path, "initial");
            initial.Save(initialFolder, BundledRun.Model, []);
            Assert.That(AdapterBytes(initialFolder), Is.Not.EqualTo(trained), "the run changed the adapter");
        }

        string state = Path.Combine("checkpoint", FirstOrderOptimizer.StateFileName);
        Assert.That(File.ReadAllBytes(Path.Combine(run, state)), Is.EqualTo(File.ReadAllBytes(Path.Combine(reference, state))));
        using var moments = SafetensorsFile.Open(Path.Combine(reference, state));
        var names = moments.Entries.Select(e => e.Name).ToArray();
        string parameter = peft == PeftKind.Lora ? ".lora_A.weight" : PrefixAdapter.ParameterName;
        Assert.That(names, Has.Some.StartsWith("exp_avg.").And.Some.EndsWith(parameter), "AdamW's moments under the adapter's names");
        Assert.That(names, Has.None.Contains("embed_tokens").And.None.Contains("master."), "no state for the frozen base, no master of float32 tensors");
    }

    private static byte[] AdapterBytes(string folder) => File.ReadAllBytes(Path.Combine(folder, AdapterFolder.WeightsFile));
}
