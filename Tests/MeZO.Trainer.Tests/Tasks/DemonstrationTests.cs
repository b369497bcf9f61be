using MeZO.Engine;
using MeZO.Trainer.Data;
using MeZO.Trainer.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

/// <summary>
/// The paper's in-context-learning baseline (princeton-nlp/MeZO large_models: icl.sh, tasks.py sample_train_sets,
/// utils.py encode_prompt): K training examples with their gold answers, in the task's template, joined and followed by
/// "\n\n", before each evaluated example; one fresh draw per evaluated example; left truncation of the whole context.
/// </summary>
public class DemonstrationTests
{
    private static readonly ITask Sst2 = TaskRegistry.Get("sst2");

    [Test]
    public void Sst2WithTwoDemonstrationsTokenizesTheirTemplatesBeforeTheTestExample()
    {
        SampledSplits splits = DatasetSplits.Sample(Sst2, TaskFiles.Folder("SST-2"), 0, 0, 1, seed: 42, demonstrations: 2);
        TaskExample test = splits.Test[0];
        IReadOnlyList<TaskExample> shown = splits.TestDemonstrations[0];
        Assert.That(shown, Has.Count.EqualTo(2));

        // templates.py SST2Template: verbalize = f"{sentence.strip()} It was {verbalizer[label]}", verbalizer
        // {0: "terrible", 1: "great"}; encode = the same without the word. encode_prompt strips each demonstration, joins
        // them with train_sep "\n\n", then adds train_sep and the test example's text.
        static string Word(TaskExample e) => e.Label == 1 ? "great" : "terrible";
        static string Sentence(TaskExample e) => e.Fields["sentence"].Trim();
        string context = $"{Sentence(shown[0])} It was {Word(shown[0])}\n\n{Sentence(shown[1])} It was {Word(shown[1])}\n\n" +
                         $"{Sentence(test)} It was";

        var seen = new List<string>();
        IReadOnlyList<int> Record(string text)
        {
            seen.Add(text);
            return [.. text.Select(c => (int)c)];
        }
        PromptEncoder.EncodeCandidates(Sst2.Render(test), Record, maxLength: 100_000, tokenizerAddsBos: false,
            demonstrations: Demonstrations.Render(Sst2, shown));

        Assert.That(seen, Does.Contain(context + " terrible"));
        Assert.That(seen, Does.Contain(context + " great"));
    }

    [Test]
    public void EachDemonstrationIsTheTemplateWithItsGoldAnswer()
    {
        // SST-2 train.tsv line 2: "when are bears bears and <TAB>1" → SST2Template with the gold word.
        TaskExample first = Sst2.LoadTrain(new DataFolder(TaskFiles.Folder("SST-2")))[0];
        Assert.That(Demonstrations.Render(Sst2, [first]), Is.EqualTo("when are bears bears and It was great"));

        // COPA train.jsonl line 1 (cause, label 0). CopaTemplate: the premise without its final ".", " because " for a
        // cause, then the correct choice with its first letter lower-cased.
        ITask copa = TaskRegistry.Get("copa");
        TaskExample chandelier = copa.LoadTrain(new DataFolder(TaskFiles.Folder("superglue/COPA")))
            .Single(e => e.Origin.EndsWith("train.jsonl:1", StringComparison.Ordinal));
        Assert.That(Demonstrations.Render(copa, [chandelier]),
            Is.EqualTo("The chandelier shattered on the floor because the chandelier dropped from the ceiling."));
    }

    [Test]
    public void GenerationDemonstrationsCarryTheirFirstGoldAnswer()
    {
        using var folder = new TemporaryFolder();
        const string squad = """
            {"version": "1.1", "data": [{"title": "Bowl", "paragraphs": [
              {"context": "The Broncos beat the Panthers.", "qas": [
                {"id": "q1", "question": " Who won? ", "answers": [{"answer_start": 4, "text": "Broncos"}, {"answer_start": 0, "text": "The Broncos"}]},
                {"id": "q2", "question": "Who lost?", "answers": [{"answer_start": 21, "text": "Panthers"}]}]}]}]}
            """;
        folder.Write("train-v1.1.json", squad);
        folder.Write("dev-v1.1.json", squad);
        ITask task = TaskRegistry.Get("squad");
        IReadOnlyList<TaskExample> train = task.LoadTrain(new DataFolder(folder.Path));

        // SQuADv2Template.verbalize: f"Title: {title}\nContext: {context}\nQuestion: {question.strip()}\nAnswer: {answers[0]}\n",
        // stripped by encode_prompt; the two joined by "\n\n".
        Assert.That(Demonstrations.Render(task, train), Is.EqualTo(
            "Title: Bowl\nContext: The Broncos beat the Panthers.\nQuestion: Who won?\nAnswer: Broncos\n\n" +
            "Title: Bowl\nContext: The Broncos beat the Panthers.\nQuestion: Who lost?\nAnswer: Panthers"));
    }

    [Test]
    public void LeftTruncationDropsTheDemonstrationsAndKeepsTheExampleAndItsCandidate()
    {
        // Pieces are words with the whitespace before them; no BOS. The full text of candidate 1 is
        // "a b It was great" "\n\n" "c d It was terrible" "\n\n" "e f It was great": 15 pieces.
        var ids = new Dictionary<string, int>();
        int Id(string piece) => ids.TryGetValue(piece, out int id) ? id : ids[piece] = ids.Count;
        IReadOnlyList<int> Encode(string text) =>
            [.. System.Text.RegularExpressions.Regex.Matches(text, @"\s*\S+").Select(m => Id(m.Value))];
        PromptedExample example = new("t", "e f It was", [" terrible", " great"], 1, ["great"]);

        var encoded = PromptEncoder.EncodeCandidates(example, Encode, maxLength: 5, tokenizerAddsBos: false,
            demonstrations: "a b It was great\n\nc d It was terrible");

        Assert.That(encoded[1].Ids, Is.EqualTo(new[] { Id("\n\ne"), Id(" f"), Id(" It"), Id(" was"), Id(" great") }));
        Assert.That(encoded[0].Ids, Is.EqualTo(new[] { Id("\n\ne"), Id(" f"), Id(" It"), Id(" was"), Id(" terrible") }));
        Assert.That(encoded.Select(e => e.ScoredTokens), Is.EqualTo(new[] { 1, 1 }));
        Assert.That(encoded.Select(e => e.DroppedTokens), Is.EqualTo(new[] { 10, 10 }));

        EncodedSequence input = PromptEncoder.EncodeForGeneration(example, Encode, maxLength: 7, tokenizerAddsBos: false,
            maxNewTokens: 3, demonstrations: "a b It was great");
        Assert.That(input.Ids, Is.EqualTo(new[] { Id("\n\ne"), Id(" f"), Id(" It"), Id(" was") }));
    }

    [Test]
    public void SameSeedDrawsTheSameDemonstrationsAndEachTestExampleItsOwn()
    {
        string folder = TaskFiles.Folder("SST-2");
        static string[][] Origins(SampledSplits s) => [.. s.TestDemonstrations.Select(set => set.Select(e => e.Origin).ToArray())];
        SampledSplits first = DatasetSplits.Sample(Sst2, folder, 0, 0, 6, seed: 7, demonstrations: 4);
        SampledSplits again = DatasetSplits.Sample(Sst2, folder, 0, 0, 6, seed: 7, demonstrations: 4);
        SampledSplits other = DatasetSplits.Sample(Sst2, folder, 0, 0, 6, seed: 8, demonstrations: 4);

        Assert.That(Origins(again), Is.EqualTo(Origins(first)));
        Assert.That(Origins(other), Is.Not.EqualTo(Origins(first)));
        Assert.That(Origins(first).Select(set => string.Join('|', set)).Distinct().Count(), Is.EqualTo(6),
            "MeZO's icl.sh draws one set per test example");
        Assert.That(first.TestDemonstrations.SelectMany(set => set).Select(e => e.Origin),
            Has.All.Matches<string>(origin => origin!.Contains("train.tsv:") || origin!.Contains("dev.tsv:")),
            "demonstrations come from the training split");
    }

    [Test]
    public void AnExampleIsNeverItsOwnDemonstration()
    {
        // Five examples that are both the pool and the evaluated set: with K = 4, each one's set must be the other four.
        TaskExample[] pool = [.. Enumerable.Range(0, 5).Select(Example)];
        for (ulong seed = 0; seed < 20; seed++)
        {
            IReadOnlyList<TaskExample>[] sets = Demonstrations.Draw(pool, pool, 4, seed);
            for (int i = 0; i < pool.Length; i++)
                Assert.That(sets[i], Is.EquivalentTo(pool.Where((_, j) => j != i)), $"seed {seed}, example {i}");
        }

        // The same example read again (a new object from the same place) is still excluded.
        TaskExample reread = Example(2);
        Assert.That(Demonstrations.Draw(pool, [reread], 4, 1)[0].Select(e => e.Id), Has.None.EqualTo("2"));
    }

    [Test]
    public void MoreDemonstrationsThanTheTrainingSplitHoldsIsAClearError()
    {
        TaskExample[] pool = [.. Enumerable.Range(0, 5).Select(Example)];
        var outside = Example(9);

        var tooMany = Assert.Throws<InvalidInputException>(() => Demonstrations.Draw(pool, [outside], 6, 1));
        Assert.That(tooMany!.Message, Does.Contain("6 demonstrations").And.Contain("only 5 examples").And.Contain("--demonstrations 5"));

        var withoutItself = Assert.Throws<InvalidInputException>(() => Demonstrations.Draw(pool, [pool[0]], 5, 1));
        Assert.That(withoutItself!.Message, Does.Contain("only 4 examples"));

        Assert.That(Demonstrations.Draw(pool, [outside], 5, 1)[0], Is.EquivalentTo(pool));
    }

    [Test]
    public void ZeroDemonstrationsIsZeroShot()
    {
        SampledSplits splits = DatasetSplits.Sample(Sst2, TaskFiles.Folder("SST-2"), 0, 0, 3, seed: 1, demonstrations: 0);
        Assert.That(splits.TestDemonstrations.Select(set => set.Count), Is.EqualTo(new[] { 0, 0, 0 }));
        Assert.That(splits.Files.Keys, Is.EqualTo(new[] { "test.tsv" }), "zero-shot does not read the training split");

        PromptedExample example = new("t", "e f It was", [" great"], 0, ["great"]);
        var seen = new List<string>();
        PromptEncoder.EncodeCandidates(example, text => { seen.Add(text); return [.. text.Select(c => (int)c)]; }, 100, false,
            demonstrations: Demonstrations.Render(Sst2, splits.TestDemonstrations[0]));
        Assert.That(seen, Is.EqualTo(new[] { "e f It was", "e f It was great" }));
    }

    private static TaskExample Example(int i) =>
        new(i.ToString(System.Globalization.CultureInfo.InvariantCulture), $"pool.tsv:{i + 2}",
            new Dictionary<string, string> { ["sentence"] = $"sentence {i}" }, i % 2);
}
