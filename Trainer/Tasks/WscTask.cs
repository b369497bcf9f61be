using System.Globalization;
using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// Winograd Schema Challenge (SuperGLUE) cast as MeZO's WSCTemplate (from PromptSource):
/// "&lt;text&gt;\nIn the previous sentence, does the pronoun \"&lt;span2 lower-cased&gt;\" refer to &lt;span1&gt;? Yes or No?\n"
/// followed by "No" (false) or "Yes" (true). MeZO loads Hugging Face's "wsc.fixed" configuration, whose loader repairs
/// span texts that do not occur in the text (<see cref="FixSpanTexts"/>); we apply the same repair when loading.
/// </summary>
internal sealed class WscTask : SuperGlueTask
{
    private static readonly string[] Verbalizer = ["No", "Yes"];

    public override string Name => "wsc";

    public override TaskKind Kind => TaskKind.Classification;

    public override PromptedExample Render(TaskExample example)
    {
        int label = example.RequireLabel();
        string prompt = $"{example.Field("text")}\nIn the previous sentence, does the pronoun " +
                        $"\"{PythonText.Lower(example.Field("span2_text"))}\" refer to {example.Field("span1_text")}? Yes or No?\n";
        return TemplateOutput.Build(example, prompt, [.. Verbalizer.Select(word => prompt + word)], label, [Verbalizer[label]]);
    }

    protected override void Read(JsonRecord record, List<TaskExample> examples)
    {
        JsonRecord target = record.Object("target");
        var span = new WscSpans(record.String("text"),
            target.String("span1_text"), target.Int32("span1_index"),
            target.String("span2_text"), target.Int32("span2_index"));
        FixSpanTexts(ref span, record.Where);
        examples.Add(new TaskExample(SuperGlueFiles.Id(record), record.Where,
            new Dictionary<string, string>
            {
                ["text"] = span.Text,
                ["span1_text"] = span.Span1Text,
                ["span2_text"] = span.Span2Text,
                ["span1_index"] = span.Span1Index.ToString(CultureInfo.InvariantCulture),
                ["span2_index"] = span.Span2Index.ToString(CultureInfo.InvariantCulture),
            },
            Labels.Boolean(record, "label") ? 1 : 0));
    }

    private record struct WscSpans(string Text, string Span1Text, int Span1Index, string Span2Text, int Span2Index);

    /// <summary>
    /// The repair of Hugging Face's super_glue loader for "wsc.fixed" (from TensorFlow Datasets), span 1 then span 2: a
    /// span text that already occurs in the text, or one of the two Kamenev spans that cannot be repaired, is kept. Otherwise
    /// its first character takes the case of the first character of the text's whitespace-separated word at the span's
    /// index ("The demonstrators" → "the demonstrators"), trailing periods are removed and newlines become spaces. A span
    /// containing "theyscold" sets span 2's index to 10 (the loader's text replacement there is a no-op, and so is ours).
    /// </summary>
    private static void FixSpanTexts(ref WscSpans spans, string where)
    {
        spans.Span1Text = FixSpanText(ref spans, spans.Span1Text, spans.Span1Index, where);
        spans.Span2Text = FixSpanText(ref spans, spans.Span2Text, spans.Span2Index, where);
    }

    private static string FixSpanText(ref WscSpans spans, string span, int index, string where)
    {
        if (spans.Text.Contains(span, StringComparison.Ordinal)) return span;
        if (span is "Kamenev and Zinoviev" or "Kamenev, Zinoviev, and Stalin") return span;
        if (span.Contains("theyscold", StringComparison.Ordinal)) spans.Span2Index = 10;
        List<string> words = PythonText.Split(spans.Text);
        if (index < 0 || index >= words.Count)
            throw TaskDataException.Malformed(where, $"span index {index} is outside the text's {words.Count} words");
        if (span.Length > 0)
            span = (char.IsLower(words[index][0]) ? char.ToLowerInvariant(span[0]) : char.ToUpperInvariant(span[0])) + span[1..];
        return span.TrimEnd('.').Replace("\n", " ", StringComparison.Ordinal);
    }
}
