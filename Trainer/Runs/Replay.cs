using System.Diagnostics;
using MeZO.Engine;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Training;

namespace MeZO.Trainer.Runs;

public sealed record ReplayResult(long Steps, int Records, long TrainableParameters, TimeSpan Elapsed);

/// <summary>
/// `mezo replay`: a run is (base weights, seeds, projected gradients); applying the trajectory's updates to the base
/// weights, with the same three passes per sample as training, reproduces the run's final weights bit for bit.
/// </summary>
public static class Replay
{
    public static ReplayResult Run(string baseModel, string runDirectory, string outDirectory, string? backendName)
    {
        var clock = Stopwatch.StartNew();
        if (File.Exists(outDirectory)) throw new InvalidInputException($"--out {Path.GetFullPath(outDirectory)} is a file, not a model folder");
        var run = new RunFolder(runDirectory);
        var manifest = RunManifest.Read(run.Directory);
        if (!manifest.MatchesBase(baseModel))
            throw new InvalidInputException($"--model {baseModel}: its weights are not the ones {run.Manifest} started from (SHA-256 differs)");
        var settings = manifest.Settings;
        if (settings.FirstOrder)
            throw new InvalidInputException(
                $"{run.Manifest}: a run trained with --optimizer {FirstOrderOptimizer.Spelling(settings.Optimizer)} is not replayable: backprop's " +
                "updates are whole gradients, not seeds and scalars. Its checkpoint/ holds the weights and the optimizer's state, and --resume continues it");
        var (records, _) = TrajectoryLog.Read(run.Trajectory);
        DType? storage = settings.Storage;

        using var backend = BackendFactory.Create(backendName ?? settings.Backend);
        using var model = Transformer.Load(baseModel, backend, storage);
        // The adapter a run trains starts from the run seed, so it is rebuilt here exactly as training built it.
        using var adapter = PeftSetup.Attach(model, settings);
        var trainable = PeftSetup.Trainable(model, adapter, settings.Trainable);
        var optimizer = new ZerothOrderSgd(trainable, settings.Eps, settings.WeightDecay, settings.Seed, settings.Samples);
        foreach (var r in records) optimizer.Replay(r);
        if (adapter is not null) adapter.Save(outDirectory, Path.GetFullPath(baseModel), RunFolder.ModelSideFiles(baseModel));
        else model.Weights.Save(outDirectory, RunFolder.ModelSideFiles(baseModel));
        long steps = records.Count == 0 ? 0 : records[^1].Step + 1;
        return new ReplayResult(steps, records.Count, trainable.ElementCount, clock.Elapsed);
    }
}
