using MeZO.Trainer.Data;
using MeZO.Trainer.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

/// <summary>
/// Task files on which the task-file fuzz target (tools/MeZO.Fuzz) crashed the reader, minimised: each is now a one-line
/// <see cref="TaskDataException"/> naming the file (and line).
/// </summary>
public sealed class FuzzedTaskFileTests
{
    [Test]
    public void WscSpanIndexBeyondAnIntIsRejected()
    {
        // checked((int)…) of the index threw OverflowException.
        AssertRejected("wsc", "train.jsonl", """
            {"text": "Mark told Pete lies.", "target": {"span1_index": 0, "span1_text": "Mark", "span2_index": 99999999999, "span2_text": "him"}, "idx": 0, "label": false}
            """, ":1 target: field 'span2_index' is 99999999999, out of range for a text position");
    }

    [Test]
    public void RecordEntityOffsetBeyondAnIntIsRejected()
    {
        AssertRejected("record", "train.jsonl", """
            {"passage": {"text": "A B", "entities": [{"start": 0, "end": -99999999999}]}, "qas": [], "idx": 0}
            """, ":1 passage entities[0]: field 'end' is -99999999999, out of range for a text position");
    }

    [Test]
    public void SquadFileWithInvalidUtf8IsRejected()
    {
        // JsonDocument accepted the lone continuation byte; reading the title threw InvalidOperationException.
        using var folder = new TemporaryFolder();
        string path = Path.Combine(folder.Path, "train-v1.1.json");
        File.WriteAllBytes(path, [.. "{\"data\": [{\"title\": \""u8, 0xBC, .. "\", \"paragraphs\": []}]}"u8]);

        var error = Assert.Throws<TaskDataException>(() => TaskRegistry.Get("squad").LoadTrain(new DataFolder(folder.Path)))!;
        Assert.That(error.Message, Does.StartWith($"{path}:1: not valid UTF-8 (byte 0xBC)"));
    }

    [Test]
    public void JsonlLineWithALoneSurrogateEscapeIsRejected()
    {
        // JsonDocument kept the escape; reading the premise threw InvalidOperationException.
        AssertRejected("rte", "train.jsonl", """
            {"premise": "P\ud800", "hypothesis": "H.", "label": "entailment", "idx": 0}
            """, ":1: the string at $.premise is not text (invalid UTF-8, or an escaped lone surrogate such as \\ud800)");
    }

    private static void AssertRejected(string task, string file, string line, string problem)
    {
        using var folder = new TemporaryFolder();
        string path = folder.Write(file, line + "\n");
        var error = Assert.Throws<TaskDataException>(() => TaskRegistry.Get(task).LoadTrain(new DataFolder(folder.Path)))!;
        Assert.That(error.Message, Is.EqualTo(path + problem));
    }
}
