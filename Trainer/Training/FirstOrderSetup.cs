using MeZO.Engine;
using MeZO.Engine.Backends;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Gradients;
using MeZO.Trainer.Optimizer;

namespace MeZO.Trainer.Training;

/// <summary>What a first-order run (--optimizer sgd|adamw) needs before it allocates anything, each refusal saying why.</summary>
public static class FirstOrderSetup
{
    /// <summary>Refuses settings a first-order run cannot honour, and a memory need beyond what the machine has.</summary>
    /// <param name="availableBytes">what the machine can give; null to ask the OS (<see cref="ProcessMemory.AvailableBytes"/>)</param>
    public static void Check(TrainingSession session, TrainSettings settings, TrainableSet trainable, long? availableBytes = null)
    {
        string optimizer = "--optimizer " + FirstOrderOptimizer.Spelling(settings.Optimizer);
        if (settings.Objective != Objective.Loss)
            throw new InvalidInputException($"--objective {settings.Objective.ToString().ToLowerInvariant()} is not differentiable; {optimizer} " +
                                            "trains the task's loss: use --optimizer zo-sgd (MeZO) for a non-differentiable objective");
        if (settings.Samples != 1)
            throw new InvalidInputException($"--samples {settings.Samples} is MeZO's number of perturbations per step; {optimizer} takes the exact gradient");
        if (session.Backend is not (IBackwardOps and IOptimizerOps))
            throw new InvalidInputException($"{optimizer} needs the backward pass, which the {session.Backend.Name} backend does not have yet; use --backend cpu");
        if (!(settings.AdamBeta1 is >= 0 and < 1) || !(settings.AdamBeta2 is >= 0 and < 1) || !(settings.AdamEpsilon > 0) || !(settings.MaxGradNorm >= 0))
            throw new InvalidInputException("--adam-beta1 and --adam-beta2 must be in [0, 1), --adam-epsilon positive and --max-grad-norm not negative");

        long need = EstimateBytes(session, settings, trainable);
        long? available = availableBytes ?? ProcessMemory.AvailableBytes();
        if (available is { } free && need > free)
            throw new InvalidInputException(
                $"{optimizer} would need about {Gib(need)} more (gradients, optimizer state and the activations of a micro-batch of " +
                $"{session.Scorer.MaxSequences} sequences of {session.Scorer.MaxLength} tokens{(settings.GradientCheckpointing ? ", recomputed" : "")}), " +
                $"and the machine has {Gib(free)} available: lower --micro-batch-size, add --gradient-checkpointing, or use --optimizer zo-sgd");
    }

    /// <summary>What a first-order run allocates beside the loaded model, its adapter and the session's scorer.</summary>
    public static long EstimateBytes(TrainingSession session, TrainSettings settings, TrainableSet trainable)
    {
        var scorer = session.Scorer;
        var method = FirstOrderOptimizer.Method(settings.Optimizer);
        long stateAndGradients = trainable.Tensors.Sum(t =>
            t.Parameter.Tensor.ElementCount * (4L + MemoryEstimate.StateBytesPerWeight(method, t.Parameter.Tensor.DType)));
        // Every token of a call may be scored (teacher forcing scores whole answers): the head's buffers at their largest.
        int pairs = scorer.MaxSequences * scorer.MaxLength;
        return stateAndGradients + ModelGradient.EstimateWorkingBytes(session.Model.Spec, scorer.MaxSequences, scorer.MaxLength,
            settings.GradientCheckpointing, pairs, session.Model.Adapters, sharedWorkspace: true);
    }

    private static string Gib(long bytes) => $"{bytes / (double)(1L << 30):F2} GiB";
}
