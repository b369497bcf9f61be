using MeZO.Engine.Models;
using MeZO.Engine.Tokenization;
using MeZO.Tests.Common;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tasks;
using MeZO.Trainer.Tests.Tasks;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// Every task's examples from the real files, on a real tiny model (stories260K and its tokenizer): the ids of each
/// candidate, its score (the mean log-probability of its tokens) and the training objectives, each recomputed here from
/// the tokenizer and the model's logits of one sequence at a time, with this file's own log-softmax in double.
/// </summary>
public class TaskScoringTests
{
    /// <summary>A context short enough that the long SuperGLUE passages are truncated from the left. A ReCoRD candidate
    /// is the whole query with the entity filled in (MeZO's ReCoRDTemplateGPT3), which must fit: it gets more room.</summary>
    private const int Context = 96, RecordContext = 192;

    // The model computes in float32: logits of magnitude ≲ 20 carry ~1e-6 of rounding, and a candidate scored within a
    // padded batch may round differently from the same sequence alone. 1e-4 is far above that and far below the
    // differences between candidates.
    private const double Tolerance = 1e-4;

    private static string Stories => SharedData.Path("models/stories260K");

    public static IEnumerable<TestCaseData> Tasks()
    {
        // ReCoRD ships no validation split here: its examples come from the training file.
        foreach (var (task, folder) in new[]
                 {
                     ("sst2", "SST-2"), ("rte", "superglue/RTE"), ("cb", "superglue/CB"), ("boolq", "superglue/BoolQ"),
                     ("wsc", "superglue/WSC"), ("wic", "superglue/WiC"), ("multirc", "superglue/MultiRC"),
                     ("copa", "superglue/COPA"), ("record", "superglue/ReCoRD"),
                 })
            yield return new TestCaseData(task, folder).SetName($"{task}: candidate scores and objectives");
    }

    [TestCaseSource(nameof(Tasks))]
    public void CandidateScoresAndObjectivesEqualTheirDefinitions(string taskName, string folder)
    {
        bool record = taskName == "record";
        int context = record ? RecordContext : Context;
        // ReCoRD has many long candidates (one per entity): one example is enough work.
        using var session = TrainingSession.Open(new SessionOptions
        {
            Model = Stories, Task = taskName, Data = TaskFiles.Folder(folder), TrainExamples = record ? 1 : 0, TestExamples = record ? 0 : 4,
            Seed = 3, MicroBatchSize = 3, MaxLength = context,
        });
        var examples = record ? session.Train : session.Test;
        using var workspace = session.Model.CreateWorkspace(1, context);

        double[][] scores = session.Scorer.Scores(examples);

        var expected = new double[examples.Count][];
        double crossEntropy = 0, teacherForcedSum = 0;
        int teacherForcedTokens = 0, correct = 0;
        for (int e = 0; e < examples.Count; e++)
        {
            var example = examples[e].Example;
            expected[e] = new double[example.Candidates.Count];
            for (int c = 0; c < example.Candidates.Count; c++)
            {
                var (ids, scored) = CandidateIds(session.Tokenizer, example, c, context);
                Assert.That(examples[e].Candidates[c].Ids, Is.EqualTo(ids), $"example {example.Id}, candidate {c}: ids");
                Assert.That(examples[e].Candidates[c].ScoredTokens, Is.EqualTo(scored), $"example {example.Id}, candidate {c}: scored tokens");
                double[] logProbs = TokenLogProbs(session.Model, workspace, ids, scored);
                expected[e][c] = logProbs.Average();
                if (c == example.CorrectCandidate)
                {
                    teacherForcedSum -= logProbs.Sum();
                    teacherForcedTokens += scored;
                }
            }
            double max = expected[e].Max();
            crossEntropy += max + Math.Log(expected[e].Sum(s => Math.Exp(s - max))) - expected[e][example.CorrectCandidate];
            int predicted = Array.IndexOf(expected[e], max);
            var sorted = expected[e].OrderDescending().ToArray();
            Assert.That(sorted.Length == 1 || sorted[0] - sorted[1] > 10 * Tolerance, $"example {example.Id}: the best two candidates score within the tolerance, so the prediction is not determined");
            if (example.AcceptedCandidates.Contains(predicted)) correct++;
        }

        for (int e = 0; e < examples.Count; e++)
            Assert.That(scores[e], Is.EqualTo(expected[e]).Within(Tolerance), $"example {examples[e].Example.Id}: mean log-probabilities");
        var kind = session.Task.Kind;
        double loss = new BatchObjective(kind, Objective.Loss, session.Scorer, session.Evaluator).Of(examples);
        // Classification: cross-entropy over the candidates' scores; multiple choice: the correct candidate's tokens only.
        double expectedLoss = kind == TaskKind.Classification ? crossEntropy / examples.Count : teacherForcedSum / teacherForcedTokens;
        Assert.That(loss, Is.EqualTo(expectedLoss).Within(Tolerance), "the loss objective");
        Assert.That(new BatchObjective(kind, Objective.Accuracy, session.Scorer, session.Evaluator).Of(examples),
            Is.EqualTo(-(double)correct / examples.Count), "the accuracy objective is minus the accuracy");
        Assert.That(session.Evaluator.Evaluate(examples, batchSize: 2).Value, Is.EqualTo((double)correct / examples.Count));
    }

    /// <summary>
    /// MeZO's encoding written out: the full text and the prompt each tokenized (with the BOS the tokenizer adds), the
    /// candidate's tokens the last |full| − |prompt|, and over the context the BOS kept before the last context − 1 ids.
    /// </summary>
    internal static (int[] Ids, int Scored) CandidateIds(ModelTokenizer tokenizer, PromptedExample example, int candidate, int context)
    {
        int[] full = tokenizer.Encode(example.FullText(candidate));
        int scored = full.Length - tokenizer.Encode(example.Prompt).Length;
        int[] ids = full.Length <= context ? full : [full[0], .. full[^(context - 1)..]];
        return (ids, scored);
    }

    /// <summary>log p(ids[t] | ids[&lt;t]) of the last <paramref name="scored"/> tokens, from the logits of the sequence alone.</summary>
    internal static double[] TokenLogProbs(Transformer model, ForwardWorkspace workspace, int[] ids, int scored)
    {
        var batch = TokenBatch.Pack([ids], PaddingSide.Right);
        int vocabulary = model.Spec.VocabSize;
        int[] rows = [.. Enumerable.Range(ids.Length - scored - 1, scored)];
        var logits = new float[rows.Length * vocabulary];
        model.LogitsAt(workspace, batch, rows, logits);
        var result = new double[scored];
        for (int k = 0; k < scored; k++)
        {
            var row = logits.AsSpan(k * vocabulary, vocabulary);
            double max = double.NegativeInfinity;
            foreach (float x in row) max = Math.Max(max, x);
            double sum = 0;
            foreach (float x in row) sum += Math.Exp(x - max);
            result[k] = row[ids[rows[k] + 1]] - max - Math.Log(sum);
        }
        return result;
    }
}
