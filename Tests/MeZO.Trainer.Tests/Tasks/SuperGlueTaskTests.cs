using MeZO.Trainer.Data;
using MeZO.Trainer.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

/// <summary>The SuperGLUE tasks on the real files of shared/data/tasks: example counts and one rendered example each, the
/// expected text written by hand from MeZO's templates.py.</summary>
public class SuperGlueTaskTests
{
    [TestCase("rte", "superglue/RTE")]
    [TestCase("rte", "superglue-full/RTE")]
    [TestCase("cb", "superglue/CB")]
    [TestCase("boolq", "superglue/BoolQ")]
    [TestCase("wsc", "superglue/WSC")]
    [TestCase("wsc", "superglue-full/WSC")]
    [TestCase("wic", "superglue/WiC")]
    [TestCase("copa", "superglue/COPA")]
    public void OneExamplePerLine(string name, string folder)
    {
        ITask task = TaskRegistry.Get(name);
        Assert.That(task.LoadTrain(new DataFolder(TaskFiles.Folder(folder))), Has.Count.EqualTo(TaskFiles.NonBlankLines(TaskFiles.File(folder, "train.jsonl"))));
        Assert.That(task.LoadTest(new DataFolder(TaskFiles.Folder(folder))), Has.Count.EqualTo(TaskFiles.NonBlankLines(TaskFiles.File(folder, "val.jsonl"))));
    }

    [Test]
    public void MultiRcHasOneExamplePerAnswer()
    {
        ITask task = TaskRegistry.Get("multirc");
        string folder = TaskFiles.Folder("superglue/MultiRC");
        // Only MultiRC's answers carry a "label" key.
        Assert.That(task.LoadTrain(new DataFolder(folder)), Has.Count.EqualTo(TaskFiles.KeyOccurrences(TaskFiles.File("superglue/MultiRC", "train.jsonl"), "label")));
        Assert.That(task.LoadTest(new DataFolder(folder)), Has.Count.EqualTo(TaskFiles.KeyOccurrences(TaskFiles.File("superglue/MultiRC", "val.jsonl"), "label")));
        Assert.That(task.LoadTest(new DataFolder(folder)).Select(e => e.Id).Distinct().Count(), Is.EqualTo(task.LoadTest(new DataFolder(folder)).Count));
    }

    [Test]
    public void RecordHasOneExamplePerQueryAndNoValidationFileHere()
    {
        ITask task = TaskRegistry.Get("record");
        string folder = TaskFiles.Folder("superglue/ReCoRD");
        Assert.That(task.LoadTrain(new DataFolder(folder)), Has.Count.EqualTo(TaskFiles.KeyOccurrences(TaskFiles.File("superglue/ReCoRD", "train.jsonl"), "query")));
        // shared/data ships no ReCoRD validation split (README): loading it must name the missing file.
        var error = Assert.Throws<TaskDataException>(() => task.LoadTest(new DataFolder(folder)))!;
        Assert.That(error.Message, Does.Contain(Path.Combine(folder, "val.jsonl")).And.Contain("validation split"));
    }

    [Test]
    public void Rte()
    {
        PromptedExample prompted = RenderTest("rte", "superglue/RTE", "0");
        Assert.That(prompted.Prompt, Is.EqualTo(
            "Dana Reeve, the widow of the actor Christopher Reeve, has died of lung cancer at age 44, according to the Christopher Reeve Foundation.\n" +
            "Does this mean that \"Christopher Reeve had an accident.\" is true? Yes or No?\n"));
        Assert.That(prompted.Candidates, Is.EqualTo(new[] { "Yes", "No" }));
        Assert.That(prompted.CorrectCandidate, Is.EqualTo(1), "not_entailment → No");
    }

    [Test]
    public void Cb()
    {
        PromptedExample prompted = RenderTest("cb", "superglue/CB", "0");
        Assert.That(prompted.Prompt, Is.EqualTo(
            "Suppose Valence the void-brain, Valence the virtuous valet. Why couldn't the figger choose his own portion of titanic anatomy to shaft? Did he think he was helping? " +
            "Can we infer that \"Valence was helping\"? Yes, No, or Maybe?\n"));
        Assert.That(prompted.Candidates, Is.EqualTo(new[] { "Yes", "No", "Maybe" }));
        Assert.That(prompted.CorrectCandidate, Is.EqualTo(1), "contradiction → No");
    }

    [Test]
    public void BoolQ()
    {
        // val.jsonl line 2645: the question gets "?" and a capital letter; BoolQTemplateV3 ends the prompt with "\n".
        PromptedExample prompted = RenderTest("boolq", "superglue/BoolQ", "2644");
        Assert.That(prompted.Prompt, Is.EqualTo(
            "The Punisher (season 2) -- The season is set for release in 2019. Are they going to make a punisher season 2?\n"));
        Assert.That(prompted.Candidates, Is.EqualTo(new[] { "Yes", "No" }));
        Assert.That(prompted.CorrectCandidate, Is.EqualTo(0), "true → Yes");
    }

    [Test]
    public void Wic()
    {
        PromptedExample prompted = RenderTest("wic", "superglue/WiC", "0");
        Assert.That(prompted.Prompt, Is.EqualTo(
            "Does the word \"class\" have the same meaning in these two sentences? Yes, No?\n" +
            "An emerging professional class.\n" +
            "Apologizing for losing your temper, even though you were badly provoked, showed real class.\n"));
        Assert.That(prompted.Candidates, Is.EqualTo(new[] { "No", "Yes" }));
        Assert.That(prompted.CorrectCandidate, Is.EqualTo(0), "false → No");
    }

    [Test]
    public void Wsc()
    {
        PromptedExample prompted = RenderTest("wsc", "superglue/WSC", "0");
        Assert.That(prompted.Prompt, Is.EqualTo(
            "Bernard , who had not told the government official that he was less than 21 when he filed for a homestead claim, " +
            "did not consider that he had done anything dishonest. Still, anyone who knew that he was 19 years old could take his claim away from him .\n" +
            "In the previous sentence, does the pronoun \"him\" refer to anyone? Yes or No?\n"));
        Assert.That(prompted.Candidates, Is.EqualTo(new[] { "No", "Yes" }));
        Assert.That(prompted.CorrectCandidate, Is.EqualTo(0));
    }

    [Test]
    public void WscSpanIsRepairedAsInWscFixed()
    {
        // val.jsonl line 6: span1 "The table" is not in the text; the text's word 6 is "the", so wsc.fixed writes "the table".
        PromptedExample prompted = RenderTest("wsc", "superglue/WSC", "5");
        Assert.That(prompted.Prompt, Is.EqualTo(
            "The large ball crashed right through the table because it was made of styrofoam.\n" +
            "In the previous sentence, does the pronoun \"it\" refer to the table? Yes or No?\n"));
        Assert.That(prompted.CorrectCandidate, Is.EqualTo(1));
    }

    [Test]
    public void MultiRc()
    {
        // val.jsonl line 37 (paragraph 36), question 422, answer 2134 (label 1). The paragraph ends in ". ".
        PromptedExample prompted = RenderTest("multirc", "superglue/MultiRC", "36_422_2134");
        const string paragraph =
            "Susan wanted to have a birthday party. She called all of her friends. She has five friends. Her mom said that Susan can invite them all to the party. " +
            "Her first friend could not go to the party because she was sick. Her second friend was going out of town. Her third friend was not so sure if her parents would let her. " +
            "The fourth friend said maybe. The fifth friend could go to the party for sure. Susan was a little sad. On the day of the party, all five friends showed up. " +
            "Each friend had a present for Susan. Susan was happy and sent each friend a thank you card the next week. ";
        Assert.That(prompted.Prompt, Is.EqualTo(
            paragraph + "\nQuestion: Did Susan's sick friend recover?\nI found this answer \"Yes,she recovered\". Is that correct? Yes or No?\n"));
        Assert.That(prompted.Candidates, Is.EqualTo(new[] { "No", "Yes" }));
        Assert.That(prompted.CorrectCandidate, Is.EqualTo(1));
    }

    [Test]
    public void CopaDropsThePeriodAndLowerCasesTheChoice()
    {
        // val.jsonl line 1: effect → " so "; the prompt's trailing space is stripped, so each candidate starts with one.
        PromptedExample prompted = RenderTest("copa", "superglue/COPA", "0");
        Assert.That(prompted.Prompt, Is.EqualTo("The man turned on the faucet so"));
        Assert.That(prompted.Candidates, Is.EqualTo(new[] { " the toilet filled with water.", " water flowed from the spout." }));
        Assert.That(prompted.CorrectCandidate, Is.EqualTo(1));
        Assert.That(prompted.GoldAnswers, Is.EqualTo(new[] { "Water flowed from the spout." }));
        Assert.That(TaskRegistry.Get("copa").Kind, Is.EqualTo(TaskKind.MultipleChoice));
    }

    [Test]
    public void CopaKeepsTheCapitalOfI()
    {
        PromptedExample prompted = RenderTest("copa", "superglue/COPA", "3");
        Assert.That(prompted.Prompt, Is.EqualTo("I wanted to conserve energy so"));
        Assert.That(prompted.Candidates, Is.EqualTo(new[]
        {
            " I swept the floor in the unoccupied room.", " I shut off the light in the unoccupied room.",
        }));
    }

    [Test]
    public void Record()
    {
        // train.jsonl line 13, query 45067. "@highlight\n" becomes "- "; the prompt ends with "\n-"; each candidate is " " + the
        // query with @placeholder replaced by an entity, entities in order of first appearance, without repeats.
        ITask task = TaskRegistry.Get("record");
        TaskExample example = task.LoadTrain(new DataFolder(TaskFiles.Folder("superglue/ReCoRD"))).Single(e => e.Id == "45067");
        PromptedExample prompted = task.Render(example);
        const string passage =
            "By Leon Watson PUBLISHED: 12:24 EST, 15 October 2012 | UPDATED: 01:47 EST, 16 October 2012 A thug who stabbed his friend 11 times " +
            "and left him for dead after a row over a game of darts has been jailed for eight years. Peter Roberts, 46, from Northampton, " +
            "launched a 'frenzied and determined' attack on Shane Reeves, 22, after they fell out on July 5 this year. Roberts plunged a kitchen " +
            "knife into his friend's chest, abdomen, shoulder and arm before dumping him on a landing. Peter Roberts, from Northampton, stabbed " +
            "his friend 11 times and left him for dead after a row over a game of darts. He has been jailed for eight years\n" +
            "- Peter Roberts, from Northampton, jailed for attack on Shane Reeves\n" +
            "- The pair, aged 46 and 22, were friends but fell out on July 5 this year";
        Assert.That(prompted.Prompt, Is.EqualTo(passage + "\n-"));
        string[] entities = ["Leon Watson", "Peter Roberts", "Northampton", "Shane Reeves", "Roberts"];
        Assert.That(prompted.Candidates, Is.EqualTo(entities.Select(entity =>
            $" After undergoing surgery, Mr {entity} spent a month recovering from his injuries.")));
        Assert.That(prompted.CorrectCandidate, Is.EqualTo(3));
        Assert.That(prompted.GoldAnswers, Is.EqualTo(new[] { "Shane Reeves" }));
        Assert.That(prompted.IsCorrect(3) && !prompted.IsCorrect(1), Is.True);
    }

    [TestCase("rte", TaskKind.Classification)]
    [TestCase("multirc", TaskKind.Classification)]
    [TestCase("record", TaskKind.MultipleChoice)]
    [TestCase("squad", TaskKind.Generation)]
    [TestCase("drop", TaskKind.Generation)]
    public void KindFollowsThePaper(string name, TaskKind kind) => Assert.That(TaskRegistry.Get(name).Kind, Is.EqualTo(kind));

    /// <summary>The example with <paramref name="id"/> of the task's official validation split (val.jsonl), rendered.</summary>
    private static PromptedExample RenderTest(string name, string folder, string id)
    {
        ITask task = TaskRegistry.Get(name);
        return task.Render(task.LoadTest(new DataFolder(TaskFiles.Folder(folder))).Single(example => example.Id == id));
    }
}
