using MeZO.Engine.Models;
using MeZO.Engine.Tokenization;
using MeZO.Trainer.Tasks;

namespace MeZO.Trainer.Training;

/// <summary>Renders examples with their task's template and tokenizes them the way MeZO does (<see cref="PromptEncoder"/>).</summary>
public sealed class TaskEncoder(ITask task, ModelTokenizer tokenizer, int maxLength)
{
    /// <summary>Greedy generation's budget of new tokens (the paper's).</summary>
    public const int MaxNewTokens = 50;

    public ITask Task => task;
    public int MaxLength => maxLength;

    /// <summary>The token that ends a generated answer: the last token of "\n" without special tokens (MeZO's rule).</summary>
    public int? NewlineToken { get; } = tokenizer.Encode("\n", addPrefix: false) is { Length: > 0 } nl ? nl[^1] : null;

    /// <summary>The example, after its in-context <paramref name="demonstrations"/> when there are any (zero-shot otherwise).</summary>
    public EncodedExample Encode(TaskExample raw, IReadOnlyList<TaskExample>? demonstrations = null)
    {
        var example = task.Render(raw);
        string context = demonstrations is { Count: > 0 } ? Demonstrations.Render(task, demonstrations) : "";
        IReadOnlyList<int> Tokenize(string text) => tokenizer.Encode(text);
        bool addsBos = tokenizer.PrefixToken is not null;
        if (task.Kind == TaskKind.LanguageModeling)
        {
            if (context.Length > 0)
                throw new ArgumentException("a text to model has no answer for demonstrations to show", nameof(demonstrations));
            return new EncodedExample(example, [PromptEncoder.EncodeText(example, Tokenize, maxLength, addsBos)], null);
        }
        bool generation = task.Kind == TaskKind.Generation;
        var candidates = PromptEncoder.EncodeCandidates(example, Tokenize, maxLength, addsBos, generation ? MaxNewTokens : 0, context);
        var input = generation ? PromptEncoder.EncodeForGeneration(example, Tokenize, maxLength, addsBos, MaxNewTokens, context) : (EncodedSequence?)null;
        return new EncodedExample(example, candidates, input);
    }

    /// <summary>Encodes a split, example i after <paramref name="demonstrations"/>[i] when given;
    /// <paramref name="truncated"/> counts the examples left truncation shortened.</summary>
    public IReadOnlyList<EncodedExample> EncodeAll(IReadOnlyList<TaskExample> examples, out int truncated,
        IReadOnlyList<IReadOnlyList<TaskExample>>? demonstrations = null)
    {
        if (demonstrations is not null && demonstrations.Count != examples.Count)
            throw new ArgumentException($"{demonstrations.Count} demonstration sets for {examples.Count} examples", nameof(demonstrations));
        var encoded = examples.Select((example, i) => Encode(example, demonstrations?[i])).ToArray();
        truncated = encoded.Count(e => e.Truncated);
        return encoded;
    }

    /// <summary>The context MeZO allows: the model's positions, or less if asked.</summary>
    public static int ContextOf(ArchitectureSpec spec, int? requested) =>
        requested is int r ? Math.Min(r, spec.MaxPositions) : spec.MaxPositions;
}
