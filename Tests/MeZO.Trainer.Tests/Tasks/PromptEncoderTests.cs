using MeZO.Trainer.Data;
using MeZO.Trainer.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

/// <summary>
/// The token split of MeZO's encode_prompt on toy tokenizers whose output is known by hand: ids are assigned per piece in
/// order of first sight, id 0 is BOS.
/// </summary>
public class PromptEncoderTests
{
    /// <summary>Pieces: each word with the whitespace before it (" great"), like GPT-2's byte-level BPE; BOS first.</summary>
    private sealed class WordTokenizer
    {
        private readonly Dictionary<string, int> ids = new() { ["<bos>"] = 0 };

        public IReadOnlyList<int> Encode(string text) =>
            [0, .. System.Text.RegularExpressions.Regex.Matches(text, @"\s*\S+|\s+").Select(match => Id(match.Value))];

        public int Id(string piece) => ids.TryGetValue(piece, out int id) ? id : ids[piece] = ids.Count;
    }

    [Test]
    public void CandidateTokensAreTheTailOfTheFullText()
    {
        var tokenizer = new WordTokenizer();
        PromptedExample example = new("s", "a fine film It was", [" terrible", " great"], 1, ["great"]);

        IReadOnlyList<EncodedSequence> encoded = PromptEncoder.EncodeCandidates(example, tokenizer.Encode, maxLength: 100, tokenizerAddsBos: true);

        // Prompt: <bos> a " fine" " film" " It" " was" (6); full adds one piece.
        int[] prompt = [0, tokenizer.Id("a"), tokenizer.Id(" fine"), tokenizer.Id(" film"), tokenizer.Id(" It"), tokenizer.Id(" was")];
        Assert.That(encoded[0].Ids, Is.EqualTo(prompt.Append(tokenizer.Id(" terrible"))));
        Assert.That(encoded[1].Ids, Is.EqualTo(prompt.Append(tokenizer.Id(" great"))));
        Assert.That(encoded.Select(e => e.ScoredTokens), Is.EqualTo(new[] { 1, 1 }));
        Assert.That(encoded.Any(e => e.Truncated), Is.False);
    }

    [Test]
    public void SplitIsByCountWhenPiecesCrossTheBoundary()
    {
        // A tokenizer of two-character pieces: "abc" → [ab, c], "abcde" → [ab, cd, e]. The candidate "de" adds one token,
        // and the scored token is the last one, "e" — MeZO counts tokens, it does not align characters.
        var pieces = new Dictionary<string, int>();
        IReadOnlyList<int> Encode(string text) =>
            [.. Enumerable.Range(0, (text.Length + 1) / 2)
                .Select(i => text.Substring(2 * i, Math.Min(2, text.Length - 2 * i)))
                .Select(piece => pieces.TryGetValue(piece, out int id) ? id : pieces[piece] = pieces.Count)];
        PromptedExample example = new("x", "abc", ["de"], 0, ["de"]);

        EncodedSequence encoded = PromptEncoder.EncodeCandidates(example, Encode, maxLength: 10, tokenizerAddsBos: false)[0];

        Assert.That(encoded.Ids, Is.EqualTo(new[] { pieces["ab"], pieces["cd"], pieces["e"] }));
        Assert.That(encoded.ScoredTokens, Is.EqualTo(1));
    }

    [Test]
    public void LeftTruncationKeepsTheBosToken()
    {
        var tokenizer = new WordTokenizer();
        PromptedExample example = new("t", "one two three four", [" five"], 0, ["five"]);

        EncodedSequence kept = PromptEncoder.EncodeCandidates(example, tokenizer.Encode, maxLength: 4, tokenizerAddsBos: true)[0];
        EncodedSequence plain = PromptEncoder.EncodeCandidates(example, tokenizer.Encode, maxLength: 4, tokenizerAddsBos: false)[0];

        // Full: <bos> one " two" " three" " four" " five" (6 ids).
        Assert.That(kept.Ids, Is.EqualTo(new[] { 0, tokenizer.Id(" three"), tokenizer.Id(" four"), tokenizer.Id(" five") }));
        Assert.That(kept.DroppedTokens, Is.EqualTo(2));
        Assert.That(plain.Ids, Is.EqualTo(new[] { tokenizer.Id(" two"), tokenizer.Id(" three"), tokenizer.Id(" four"), tokenizer.Id(" five") }));
        Assert.That(kept.ScoredTokens, Is.EqualTo(1));
    }

    [Test]
    public void GenerationReservesTheNewTokens()
    {
        var tokenizer = new WordTokenizer();
        PromptedExample example = new("g", "Passage: a b c\nQuestion: d?\nAnswer:", [" c\n"], 0, ["c"]);

        // Prompt pieces: <bos> Passage: " a" " b" " c" "\nQuestion:" " d?" "\nAnswer:" (8 ids); 10 − 4 reserved = 6 kept.
        EncodedSequence input = PromptEncoder.EncodeForGeneration(example, tokenizer.Encode, maxLength: 10, tokenizerAddsBos: true, maxNewTokens: 4);
        Assert.That(input.Ids, Has.Count.EqualTo(6));
        Assert.That(input.Ids[0], Is.EqualTo(0));
        Assert.That(input.Ids[^1], Is.EqualTo(tokenizer.Id("\nAnswer:")));
        Assert.That(input.DroppedTokens, Is.EqualTo(2));
        Assert.That(input.ScoredTokens, Is.EqualTo(0));

        // Training on the gold answer reserves the same budget: 9 ids (" c" and "\n" added) into 6.
        EncodedSequence gold = PromptEncoder.EncodeCandidates(example, tokenizer.Encode, maxLength: 10, tokenizerAddsBos: true, maxNewTokens: 4)[0];
        Assert.That(gold.Ids, Has.Count.EqualTo(6));
        Assert.That(gold.ScoredTokens, Is.EqualTo(2));
    }

    [Test]
    public void CandidateThatDoesNotFitIsAnError()
    {
        var tokenizer = new WordTokenizer();
        PromptedExample example = new("long", "p", [" a b c d"], 0, ["a b c d"]);
        var error = Assert.Throws<TaskDataException>(() =>
            PromptEncoder.EncodeCandidates(example, tokenizer.Encode, maxLength: 4, tokenizerAddsBos: true))!;
        Assert.That(error.Message, Does.Contain("example long").And.Contain("4 tokens"));
    }
}
