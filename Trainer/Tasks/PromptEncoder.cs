using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// Turns a <see cref="PromptedExample"/> into token ids exactly as MeZO does (large_models/utils.py, encode_prompt; MeZO
/// fine-tunes and evaluates zero-shot, and only its ICL baseline puts demonstrations first):
/// <list type="number">
/// <item>prompt ids = encode(Prompt) and full ids = encode(Prompt + candidate), each one call of the tokenizer with its
/// special tokens (OPT's leading &lt;/s&gt;, Llama's &lt;s&gt;). The candidate is never tokenized on its own.</item>
/// <item>The candidate's tokens are the LAST |full ids| − |prompt ids| ids of the full text. The split is by count: where
/// the tokenizer merges characters across the boundary, the scored tokens are still the full text's last ones.</item>
/// <item>Left truncation to the model's context: when the tokenizer adds a BOS token the first id is kept followed by the
/// last maxLength − 1 ids, otherwise the last maxLength ids. Generation tasks reserve the 50 new tokens first
/// (maxLength − maxNewTokens), for the input of generation and for the gold answer of training alike.</item>
/// <item>A candidate's score is the mean log-probability of its tokens, each given everything before it. Classification
/// trains with cross-entropy over the candidates' scores; multiple choice and generation teacher-force the correct
/// candidate's tokens (mean token cross-entropy over them only).</item>
/// <item>Generation: the input is the prompt's ids; greedy decoding of at most min(50, maxLength − input length) tokens,
/// stopping after the last token of encode("\n") without special tokens (MeZO: encode("\n")[-1]; for SentencePiece that skips the leading "▁"), or at EOS; the answer is the decoded new tokens
/// (special tokens skipped) stripped of surrounding whitespace.</item>
/// </list>
/// MeZO computes the prompt length on the prompt before leading whitespace is removed and the full ids after; the
/// templates of our tasks never start with whitespace, so the two agree.
/// <para>With in-context demonstrations (<see cref="Demonstrations"/>), the tokenized text is demonstrations + "\n\n" +
/// the example's text, while the number of scored tokens is still counted on the example alone (MeZO's option_lens are
/// computed before the demonstrations are prepended); truncation then cuts the whole context from the left, so the
/// demonstrations go first and the example and its candidate are kept.</para>
/// </summary>
public static class PromptEncoder
{
    /// <summary>
    /// The ids of every candidate of <paramref name="example"/> and how many of them are scored.
    /// <paramref name="encode"/> is the tokenizer with its special tokens; <paramref name="tokenizerAddsBos"/> keeps the
    /// first id through truncation; pass the generation budget as <paramref name="maxNewTokens"/> for generation tasks and
    /// the rendered <paramref name="demonstrations"/> (<see cref="Demonstrations.Render"/>; "" for zero-shot) to put
    /// before the example.
    /// </summary>
    public static IReadOnlyList<EncodedSequence> EncodeCandidates(PromptedExample example, Func<string, IReadOnlyList<int>> encode,
        int maxLength, bool tokenizerAddsBos, int maxNewTokens = 0, string demonstrations = "")
    {
        int limit = Limit(maxLength, maxNewTokens);
        int promptLength = encode(example.Prompt).Count;
        var sequences = new EncodedSequence[example.Candidates.Count];
        for (int i = 0; i < sequences.Length; i++)
        {
            IReadOnlyList<int> alone = encode(example.FullText(i));
            int scored = alone.Count - promptLength;
            IReadOnlyList<int> full = demonstrations.Length == 0 ? alone : encode(Demonstrations.Prefix(demonstrations, example.FullText(i)));
            if (scored <= 0)
                throw new TaskDataException(
                    $"example {example.Id}: candidate {i} ({Show(example.Candidates[i])}) adds no tokens to the prompt");
            EncodedSequence sequence = Truncate(full, limit, tokenizerAddsBos, scored);
            if (scored > sequence.Ids.Count - 1)
                throw new TaskDataException(
                    $"example {example.Id}: candidate {i} has {scored} tokens, which do not fit after a context in {limit} tokens");
            sequences[i] = sequence;
        }
        return sequences;
    }

    /// <summary>The input ids for generating the answer: the prompt alone, truncated to leave room for
    /// <paramref name="maxNewTokens"/>, after its <paramref name="demonstrations"/> if any.</summary>
    public static EncodedSequence EncodeForGeneration(PromptedExample example, Func<string, IReadOnlyList<int>> encode,
        int maxLength, bool tokenizerAddsBos, int maxNewTokens, string demonstrations = "") =>
        Truncate(encode(Demonstrations.Prefix(demonstrations, example.Prompt)), Limit(maxLength, maxNewTokens), tokenizerAddsBos, scored: 0);

    /// <summary>
    /// A plain text for language modelling (the example's one candidate, its prompt empty): encode(text) with its special
    /// tokens, truncated from the left like every sequence, and every id after the first scored: the first has no context
    /// to be predicted from (with a BOS tokenizer the first id is BOS, so every token of the text is scored).
    /// </summary>
    public static EncodedSequence EncodeText(PromptedExample example, Func<string, IReadOnlyList<int>> encode, int maxLength,
        bool tokenizerAddsBos)
    {
        int limit = Limit(maxLength, 0);
        IReadOnlyList<int> ids = encode(example.Candidates[0]);
        if (ids.Count < 2)
            throw new TaskDataException(
                $"example {example.Id}: the text {Show(example.Candidates[0])} is {ids.Count} token(s); language modelling needs at least two");
        return Truncate(ids, limit, tokenizerAddsBos, Math.Min(ids.Count, limit) - 1);
    }

    private static int Limit(int maxLength, int maxNewTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxNewTokens);
        if (maxLength - maxNewTokens < 2)
            throw new ArgumentOutOfRangeException(nameof(maxLength),
                $"a context of {maxLength} tokens leaves no room for a prompt after reserving {maxNewTokens} new tokens");
        return maxLength - maxNewTokens;
    }

    private static EncodedSequence Truncate(IReadOnlyList<int> ids, int limit, bool keepFirst, int scored)
    {
        int dropped = Math.Max(0, ids.Count - limit);
        if (dropped == 0) return new EncodedSequence([.. ids], scored, 0);
        var kept = new int[limit];
        int start = 0;
        if (keepFirst) kept[start++] = ids[0];
        for (int source = ids.Count - (limit - start); start < limit; start++, source++) kept[start] = ids[source];
        return new EncodedSequence(kept, scored, dropped);
    }

    private static string Show(string text) =>
        System.Text.Json.JsonSerializer.Serialize(text.Length > 40 ? text[..40] + "…" : text);
}
