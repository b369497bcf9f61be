using System.Text.Json;
using MeZO.Engine.Models;
using MeZO.Tests.Common;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// The jsonl task on a real tiny model (stories260K): SST-2 written as jsonl records is sst2, token for token and in
/// accuracy; and a text's log-likelihood and perplexity are the model's, recomputed here from
/// <see cref="Transformer.ScoreTokens"/> one text at a time.
/// </summary>
public class JsonlScoringTests
{
    private static string Stories => SharedData.Path("models/stories260K");

    [Test]
    public void Sst2WrittenAsJsonlGivesSst2sTokensAndAccuracy()
    {
        // Every row of GLUE's SST-2 validation split (test.tsv), as a user would write it: MeZO's SST2Template by hand.
        using var folder = new TemporaryFolder();
        string tsv = TaskFiles.File("SST-2", "test.tsv");
        var lines = File.ReadLines(tsv).Skip(1).Where(line => line.Length > 0).Select(line => line.Split('\t')).Select(fields =>
            JsonSerializer.Serialize(new { prompt = fields[0].Trim() + " It was", candidates = new[] { " terrible", " great" }, label = int.Parse(fields[1]) }));
        folder.Write("test.jsonl", string.Join("\n", lines) + "\n");

        SessionOptions Options(string task, string data) => new()
        {
            Model = Stories, Task = task, Data = data, TestExamples = 200, Seed = 11, MicroBatchSize = 16,
        };
        using var sst2 = TrainingSession.Open(Options("sst2", TaskFiles.Folder("SST-2")));
        using var jsonl = TrainingSession.Open(Options("jsonl", folder.Path));

        Assert.That(jsonl.Test, Has.Count.EqualTo(200));
        for (int i = 0; i < sst2.Test.Count; i++)
        {
            // test.tsv's data row r is line r + 2 there and line r + 1 of test.jsonl: the same row was drawn.
            Assert.That(jsonl.Test[i].Example.Id, Is.EqualTo($"test.jsonl:{int.Parse(sst2.Test[i].Example.Id) + 1}"));
            Assert.That(jsonl.Test[i].Example.CorrectCandidate, Is.EqualTo(sst2.Test[i].Example.CorrectCandidate));
            for (int c = 0; c < 2; c++)
            {
                Assert.That(jsonl.Test[i].Candidates[c].Ids, Is.EqualTo(sst2.Test[i].Candidates[c].Ids), $"example {i}, candidate {c}");
                Assert.That(jsonl.Test[i].Candidates[c].ScoredTokens, Is.EqualTo(sst2.Test[i].Candidates[c].ScoredTokens));
            }
        }
        EvalResult expected = sst2.Evaluator.Evaluate(sst2.Test, 16), actual = jsonl.Evaluator.Evaluate(jsonl.Test, 16);
        TestContext.Out.WriteLine($"sst2 {expected}; jsonl {actual}");
        Assert.That(actual.Metric, Is.EqualTo("accuracy"));
        Assert.That(actual.Value, Is.EqualTo(expected.Value), "exactly the same accuracy");
    }

    [Test]
    public void TextLogLikelihoodAndPerplexityAreTheModelsPerTokenMean()
    {
        string[] texts =
        [
            "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun.",
            "Tom had a red ball.",
            "The cat sat on the mat and looked at the big dog. The dog was happy and wagged its tail.",
            "One day, Ben went to the park with his mom.",
        ];
        using var folder = new TemporaryFolder();
        folder.Write("test.jsonl", string.Concat(texts.Select(text => JsonSerializer.Serialize(new { text }) + "\n")));
        using var session = TrainingSession.Open(new SessionOptions
        {
            Model = Stories, Task = "jsonl", Data = folder.Path, TestExamples = texts.Length, Seed = 1, MicroBatchSize = 3,
        });

        // Independently: each text tokenized alone, every token after the first scored given those before it.
        using var workspace = session.Model.CreateWorkspace(1, 128);
        double logLikelihood = 0;
        int tokens = 0;
        foreach (string text in texts)
        {
            int[] ids = session.Tokenizer.Encode(text);
            var batch = TokenBatch.Pack([ids], PaddingSide.Right);
            int[] rows = [.. Enumerable.Range(0, ids.Length - 1)];
            var logProbs = new float[rows.Length];
            session.Model.ScoreTokens(workspace, batch, rows, ids[1..], logProbs);
            logLikelihood += logProbs.Sum(p => (double)p);
            tokens += rows.Length;
        }
        double mean = logLikelihood / tokens;

        EvalResult result = session.Evaluator.Evaluate(session.Test, batchSize: 3);
        TestContext.Out.WriteLine($"{result}; expected mean {mean}, perplexity {Math.Exp(-mean)}");
        Assert.That(session.Test.Sum(e => e.Candidates[0].ScoredTokens), Is.EqualTo(tokens), "every token after the first is scored");
        Assert.That(result.Metric, Is.EqualTo(EvalResult.LogLikelihood));
        // float32 log-probabilities in padded batches of three against one text at a time: ~1e-6 per token; 1e-5 relative is
        // far above that and far below the difference an unscored or misaligned token makes (a whole token's ≈ 1/tokens).
        Assert.That(result.Value, Is.EqualTo(mean).Within(1e-5 * Math.Abs(mean)));
        Assert.That(result.Perplexity, Is.EqualTo(Math.Exp(-mean)).Within(1e-5 * Math.Exp(-mean)));
        Assert.That(result.ExactMatch, Is.Null);
        Assert.That(result.ToString(), Does.StartWith($"log-likelihood {result.Value:F4} per token (perplexity {Math.Exp(-mean):F4}, 4 examples)"));
    }
}
