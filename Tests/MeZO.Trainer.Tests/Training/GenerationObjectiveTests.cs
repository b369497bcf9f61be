using System.Text.Json;
using MeZO.Engine.Models;
using MeZO.Tests.Common;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tasks;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// Generation tasks on a real tiny model (stories260K): greedy answers recomputed here without the KV cache, one
/// token at a time from the full sequence's logits, stopping after the last token of encode("\n") (MeZO's rule); the
/// F1 objective is minus the mean F1 of those answers; teacher forcing scores the gold answer's tokens.
/// </summary>
public class GenerationObjectiveTests
{
    private const int Context = 160;
    private const double Tolerance = 1e-4; // float32 forward, as in TaskScoringTests

    private static readonly string[] Contexts =
    [
        "Lily and Tom went to the park. They played with a red ball. Then they went home and ate cake.",
        "Once upon a time there was a little dog named Max. Max liked to run in the big green field.",
        "Sam had a box of toys. He gave a toy car to his friend Ben. Ben was very happy.",
    ];

    private static string SquadJson(IReadOnlyList<string> goldAnswers) => JsonSerializer.Serialize(new
    {
        version = "1.1",
        data = new[]
        {
            new
            {
                title = "Stories",
                paragraphs = Contexts.Select((context, i) => new
                {
                    context,
                    qas = new[] { new { id = $"q{i}", question = "What happened?", answers = new[] { new { answer_start = 0, text = goldAnswers[i] } } } },
                }).ToArray(),
            },
        },
    });

    [Test]
    public void GreedyAnswersStopAtTheNewlineAndTheF1ObjectiveIsMinusTheirMeanF1()
    {
        using var folder = new TemporaryFolder();
        string stories = SharedData.Path("models/stories260K");
        var answers = GreedyAnswersByHand(stories, folder, out int newlineStops);
        TestContext.Out.WriteLine(string.Join(" | ", answers.Select(a => $"{a.Key}: {a.Value}")));
        Assert.That(newlineStops, Is.GreaterThan(0), "at least one answer must end at a newline for the stop rule to be tested");

        // Gold answers (by question id) that give known F1 values: q0's answer itself (1), a word that is in no answer
        // (0) and q2's answer with one extra token (2n/(2n + 1) for an answer of n normalised tokens).
        string[] gold = [answers["q0"], "zebra", answers["q2"] + " zebra"];
        folder.Write("dev-v1.1.json", SquadJson(gold));
        using var session = Open(stories, folder);
        var examples = session.Test;

        Assert.That(session.Evaluator.GenerateAnswers(examples), Is.EqualTo(examples.Select(e => answers[e.Example.Id])),
            "the same answers in one batch, with the KV cache");
        double f1 = new BatchObjective(TaskKind.Generation, Objective.F1, session.Scorer, session.Evaluator).Of(examples);
        double expected = -gold.Select((g, i) => SquadMetrics.F1(answers[$"q{i}"], [g])).Average();
        Assert.That(f1, Is.EqualTo(expected));
        Assert.That(expected, Is.LessThan(-1.0 / 3), "the gold answers were chosen so that F1 is not zero");

        // Teacher forcing: the mean negative log-likelihood of " gold\n" after the prompt, over all gold tokens of the batch.
        using var workspace = session.Model.CreateWorkspace(1, Context);
        double nll = 0;
        int tokens = 0;
        foreach (var e in examples)
        {
            var (ids, scored) = TaskScoringTests.CandidateIds(session.Tokenizer, e.Example, 0, Context - TaskEncoder.MaxNewTokens);
            nll -= TaskScoringTests.TokenLogProbs(session.Model, workspace, ids, scored).Sum();
            tokens += scored;
        }
        Assert.That(new BatchObjective(TaskKind.Generation, Objective.Loss, session.Scorer, session.Evaluator).Of(examples),
            Is.EqualTo(nll / tokens).Within(Tolerance));
    }

    private static TrainingSession Open(string model, TemporaryFolder folder)
    {
        if (!File.Exists(Path.Combine(folder.Path, "train-v1.1.json"))) folder.Write("train-v1.1.json", SquadJson(["x", "x", "x"]));
        return TrainingSession.Open(new SessionOptions
        {
            Model = model, Task = "squad", Data = folder.Path, TestExamples = Contexts.Length, Seed = 1, MicroBatchSize = 3, MaxLength = Context,
        });
    }

    /// <summary>Greedy decoding from the full sequence's logits at every step (no cache): the answer is the decoded new tokens, trimmed.</summary>
    private static Dictionary<string, string> GreedyAnswersByHand(string model, TemporaryFolder folder, out int newlineStops)
    {
        folder.Write("dev-v1.1.json", SquadJson(["x", "x", "x"]));
        using var session = Open(model, folder);
        var inputs = session.Test.Select(e => e.GenerationInput!.Value.Ids.ToArray()).ToArray();
        int newline = session.Tokenizer.Encode("\n", addPrefix: false)[^1];
        int? eos = session.Model.Spec.EosTokenId;
        int budget = Math.Min(TaskEncoder.MaxNewTokens, Context - inputs.Max(i => i.Length));
        using var workspace = session.Model.CreateWorkspace(1, Context);
        int vocabulary = session.Model.Spec.VocabSize;
        var logits = new float[vocabulary];
        newlineStops = 0;
        var answers = new Dictionary<string, string>();
        for (int e = 0; e < inputs.Length; e++)
        {
            var sequence = new List<int>(inputs[e]);
            var generated = new List<int>();
            while (generated.Count < budget)
            {
                session.Model.LogitsAt(workspace, TokenBatch.Pack([sequence], PaddingSide.Right), [sequence.Count - 1], logits);
                int next = 0;
                for (int v = 1; v < vocabulary; v++) if (logits[v] > logits[next]) next = v;
                generated.Add(next);
                sequence.Add(next);
                if (next == eos) break;
                if (next == newline)
                {
                    newlineStops++;
                    break;
                }
            }
            answers[session.Test[e].Example.Id] = session.Tokenizer.Decode(generated.Where(id => id != eos).ToArray()).Trim();
        }
        return answers;
    }
}
