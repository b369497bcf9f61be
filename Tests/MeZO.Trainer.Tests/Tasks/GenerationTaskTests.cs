using MeZO.Trainer.Data;
using MeZO.Trainer.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

/// <summary>SQuAD and DROP from tiny files in their official JSON formats (the real ones are not in shared/data).</summary>
public class GenerationTaskTests
{
    private const string SquadJson = """
        {"version": "1.1", "data": [
          {"title": "Super_Bowl_50", "paragraphs": [
            {"context": "Super Bowl 50 was an American football game. The Denver Broncos defeated the Carolina Panthers.",
             "qas": [
               {"id": "q1", "question": " Which team won Super Bowl 50? ",
                "answers": [{"answer_start": 49, "text": "Denver Broncos"}, {"answer_start": 45, "text": "The Denver Broncos"}]},
               {"id": "q2", "question": "Who lost?", "answers": [{"answer_start": 78, "text": "Carolina Panthers"}]}]}]},
          {"paragraphs": [
            {"context": "No title here.", "qas": [{"id": "q3", "question": "What is missing?", "answers": [{"answer_start": 3, "text": "title"}]}]}]}
        ]}
        """;

    private const string DropJson = """
        {"nfl_1": {"passage": "The Bears scored 3 touchdowns against the Lions.", "qa_pairs": [
          {"question": "How many touchdowns? ", "query_id": "a1",
           "answer": {"number": "3", "date": {"day": "", "month": "", "year": ""}, "spans": []},
           "validated_answers": [{"number": "3", "date": {"day": "", "month": "", "year": ""}, "spans": []},
                                 {"number": "", "date": {"day": "", "month": "", "year": ""}, "spans": ["three"]}]},
          {"question": "When?", "query_id": "a2",
           "answer": {"number": "", "date": {"day": "9", "month": "March", "year": "2021"}, "spans": []},
           "validated_answers": [{"number": "", "date": {"day": "9", "month": "", "year": "2021"}, "spans": []}]},
          {"question": "Which teams?", "query_id": "a3",
           "answer": {"number": "", "date": {"day": "", "month": "", "year": ""}, "spans": ["Bears", "Lions"]},
           "validated_answers": [{"number": "5", "date": {"day": "", "month": "", "year": ""}, "spans": ["five"]}]},
          {"question": "Unanswered?", "query_id": "a4",
           "answer": {"number": "", "date": {"day": "", "month": "", "year": ""}, "spans": []},
           "validated_answers": []}
        ]}}
        """;

    [Test]
    public void SquadQuestionsRenderWithTitleContextAndTheFirstAnswer()
    {
        using var folder = new TemporaryFolder();
        folder.Write("train-v1.1.json", SquadJson);
        folder.Write("dev-v1.1.json", SquadJson);
        ITask task = TaskRegistry.Get("squad");

        IReadOnlyList<TaskExample> test = task.LoadTest(new DataFolder(folder.Path));
        Assert.That(test.Select(e => e.Id), Is.EqualTo(new[] { "q1", "q2", "q3" }));
        Assert.That(task.LoadTrain(new DataFolder(folder.Path)), Has.Count.EqualTo(3));

        PromptedExample first = task.Render(test[0]);
        Assert.That(first.Prompt, Is.EqualTo(
            "Title: Super_Bowl_50\nContext: Super Bowl 50 was an American football game. The Denver Broncos defeated the Carolina Panthers.\n" +
            "Question: Which team won Super Bowl 50?\nAnswer:"));
        Assert.That(first.Candidates, Is.EqualTo(new[] { " Denver Broncos\n" }), "teacher forcing: the first gold answer and a newline");
        Assert.That(first.CorrectCandidate, Is.EqualTo(0));
        Assert.That(first.GoldAnswers, Is.EqualTo(new[] { "Denver Broncos", "The Denver Broncos" }));

        // A missing title is "" (the Hugging Face loader's default); the template still writes "Title: ".
        Assert.That(task.Render(test[2]).Prompt, Is.EqualTo("Title: \nContext: No title here.\nQuestion: What is missing?\nAnswer:"));
    }

    [Test]
    public void DropTrainsOnTheAnswerAndTestsOnTheValidatedAnswers()
    {
        using var folder = new TemporaryFolder();
        folder.Write("drop_dataset_train.json", DropJson);
        folder.Write("drop_dataset_dev.json", DropJson);
        ITask task = TaskRegistry.Get("drop");

        // Training split: "answer" only. a4 has an empty answer and is left out, as the Hugging Face loader does.
        IReadOnlyList<TaskExample> train = task.LoadTrain(new DataFolder(folder.Path));
        Assert.That(train.Select(e => e.Id), Is.EqualTo(new[] { "a1", "a2", "a3" }));
        Assert.That(train[0].List("answers"), Is.EqualTo(new[] { "3" }));
        Assert.That(train[1].List("answers"), Is.EqualTo(new[] { "9 March 2021" }));
        Assert.That(train[2].List("answers"), Is.EqualTo(new[] { "Bears", "Lions" }));

        // Validation split: "validated_answers" only; a3 mixes a number and spans and a4 has none: both left out. A date
        // without a month keeps both separating spaces ("9  2021"), as " ".join(day, month, year).strip() does.
        IReadOnlyList<TaskExample> test = task.LoadTest(new DataFolder(folder.Path));
        Assert.That(test.Select(e => e.Id), Is.EqualTo(new[] { "a1", "a2" }));
        Assert.That(test[0].List("answers"), Is.EqualTo(new[] { "3", "three" }));
        Assert.That(test[1].List("answers"), Is.EqualTo(new[] { "9  2021" }));

        PromptedExample prompted = task.Render(test[0]);
        Assert.That(prompted.Prompt, Is.EqualTo("Passage: The Bears scored 3 touchdowns against the Lions.\nQuestion: How many touchdowns?\nAnswer:"));
        Assert.That(prompted.Candidates, Is.EqualTo(new[] { " 3\n" }));
        Assert.That(prompted.GoldAnswers, Is.EqualTo(new[] { "3", "three" }));
        Assert.That(task.Render(train[2]).Candidates, Is.EqualTo(new[] { " Bears\n" }));
    }
}
