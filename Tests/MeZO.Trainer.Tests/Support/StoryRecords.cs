using System.Text.Json;

namespace MeZO.Trainer.Tests.Support;

/// <summary>
/// Short sentences in stories260K's vocabulary (TinyStories), as jsonl records of each kind `--task jsonl` reads: a
/// classification with two candidates (labels alternate), a completion (the last word), or plain text.
/// </summary>
internal static class StoryRecords
{
    public static readonly string[] Stories =
    [
        "Lily saw a big red ball in the park.", "Tom and Sue played with a toy car.", "The sun was warm and the sky was blue.",
        "Ben had a little dog named Max.", "Mom made a cake for the party.", "The bird sang a happy song in the tree.",
        "Sam found a shiny rock by the river.", "The cat liked to sleep on the soft bed.", "Anna drew a picture of a flower.",
        "The frog jumped into the cool pond.", "Tim ate an apple under the tree.", "The kids built a tall tower of blocks.",
    ];

    /// <summary>The first <paramref name="count"/> stories as records of <paramref name="kind"/> ("classification", "completion" or "text"), one per line.</summary>
    public static string Jsonl(string kind, int count = 12) => string.Concat(Stories.Take(count).Select((story, i) => JsonSerializer.Serialize<object>(kind switch
    {
        "classification" => new { prompt = story + " It was", candidates = new[] { " sad", " happy" }, label = i % 2 },
        "completion" => new { prompt = story[..story.LastIndexOf(' ')], completion = story[story.LastIndexOf(' ')..] + "\n" },
        "text" => new { text = story },
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "classification, completion or text"),
    }) + "\n"));
}
