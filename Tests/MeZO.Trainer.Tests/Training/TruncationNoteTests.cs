using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>Prompts longer than the context are cut from the left (as MeZO does) and the user is told how many.</summary>
public class TruncationNoteTests
{
    [Test]
    public void EachSplitNotesHowManyOfItsExamplesWereTruncated()
    {
        // The bundled sentences are 6 or 8 words: with BOS, " It was" and the candidate, 10 or 13 tokens.
        const int context = 11;
        using var session = TrainingSession.Open(new SessionOptions
        {
            Model = BundledRun.Model, Task = "sst2", Data = BundledRun.Data, TrainExamples = 40, EvalExamples = 10, TestExamples = 20,
            Seed = 4, MicroBatchSize = 4, MaxLength = context,
        });

        foreach (var (split, examples) in new[] { ("training", session.Train), ("validation", session.Validation), ("test", session.Test) })
        {
            // Counted here from the tokenizer: an example is truncated when prompt + some candidate is longer than the context.
            int longer = examples.Count(e => Enumerable.Range(0, e.Example.Candidates.Count)
                .Any(c => session.Tokenizer.Encode(e.Example.FullText(c)).Length > context));
            Assert.That(longer, Is.InRange(1, examples.Count - 1), $"{split}: the context is chosen to cut some examples, not all");
            Assert.That(session.Notes, Has.One.EqualTo(
                $"{longer} of {examples.Count} {split} examples were longer than {context} tokens and were truncated from the left"));
            Assert.That(examples.SelectMany(e => e.Candidates).Select(c => c.Ids.Count), Has.All.LessThanOrEqualTo(context));
        }
    }
}
