using MeZO.Engine;
using MeZO.Trainer.Tasks;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>A session opened with in-context demonstrations, on the bundled model and its SST-2-format data.</summary>
public class DemonstrationSessionTests
{
    [Test]
    public void EachTestExampleIsTokenizedAfterItsOwnDemonstrations()
    {
        var options = new SessionOptions
        {
            Model = BundledRun.Model, Task = "sst2", Data = BundledRun.Data, TestExamples = 3, Seed = 5, MicroBatchSize = 3,
            Demonstrations = 2,
        };
        using var session = TrainingSession.Open(options);
        // The same draw again (DemonstrationTests checks that it is deterministic), to build the expected text by hand.
        var splits = DatasetSplits.Sample(session.Task, BundledRun.Data, 0, 0, 3, options.Seed, demonstrations: 2);

        static string Line(TaskExample e, string word) => $"{e.Fields["sentence"].Trim()} It was {word}";
        static string Gold(TaskExample e) => e.Label == 1 ? "great" : "terrible";
        string[] words = ["terrible", "great"];
        for (int i = 0; i < 3; i++)
        {
            var shown = splits.TestDemonstrations[i];
            for (int c = 0; c < 2; c++)
            {
                string text = $"{Line(shown[0], Gold(shown[0]))}\n\n{Line(shown[1], Gold(shown[1]))}\n\n{Line(splits.Test[i], words[c])}";
                Assert.That(session.Test[i].Candidates[c].Ids, Is.EqualTo(session.Tokenizer.Encode(text)), $"example {i}, candidate {c}");
            }
        }
    }

    [Test]
    public void TruncatedContextsAreNotedWithTheirDemonstrations()
    {
        // A bundled sentence with " It was" and its word is 10 to 13 tokens with BOS (TruncationNoteTests): three
        // demonstrations and the example are more than 24, whichever are drawn.
        using var session = TrainingSession.Open(new SessionOptions
        {
            Model = BundledRun.Model, Task = "sst2", Data = BundledRun.Data, TestExamples = 4, Seed = 2, MicroBatchSize = 4,
            Demonstrations = 3, MaxLength = 24,
        });

        Assert.That(session.Notes, Has.One.EqualTo(
            "4 of 4 test examples with their 3 demonstrations were longer than 24 tokens and were truncated from the left"));
        Assert.That(session.Test.SelectMany(e => e.Candidates).Select(c => c.Ids.Count), Has.All.EqualTo(24));
    }

    [Test]
    public void DemonstrationsWithTrainingAreRefused()
    {
        var error = Assert.Throws<InvalidInputException>(() => TrainingSession.Open(new SessionOptions
        {
            Model = BundledRun.Model, Task = "sst2", Data = BundledRun.Data, TrainExamples = 8, TestExamples = 2, Demonstrations = 2,
        }));
        Assert.That(error!.Message, Does.Contain("in-context demonstrations are for evaluating a model without training"));
    }
}
