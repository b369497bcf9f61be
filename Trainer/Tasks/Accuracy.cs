namespace MeZO.Trainer.Tasks;

/// <summary>The metric of the classification and multiple-choice tasks.</summary>
public static class Accuracy
{
    /// <summary>The fraction of examples whose predicted candidate is an accepted one (<see cref="PromptedExample.IsCorrect"/>).</summary>
    public static double Of(IReadOnlyList<PromptedExample> examples, IReadOnlyList<int> predictedCandidates)
    {
        if (examples.Count != predictedCandidates.Count)
            throw new ArgumentException(
                $"{predictedCandidates.Count} predictions for {examples.Count} examples", nameof(predictedCandidates));
        if (examples.Count == 0)
            throw new ArgumentException("accuracy of no examples is undefined", nameof(examples));
        int correct = 0;
        for (int i = 0; i < examples.Count; i++)
            if (examples[i].IsCorrect(predictedCandidates[i])) correct++;
        return (double)correct / examples.Count;
    }
}
