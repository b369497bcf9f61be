using System.CommandLine;
using MeZO.Engine.Models;

namespace MeZO.Cli.Commands;

/// <summary>`mezo score`: log-probabilities of a token sequence under the model (DESIGN §5).</summary>
public sealed class ScoreCommand : MezoCommand
{
    private readonly ModelOptions _model;
    private readonly SequenceOptions _sequence;
    private readonly Option<bool> _json = CommonOptions.Json(
        "print {\"ids\": [...], \"tokens\": [...] (with a tokenizer.json), \"logprobs\": [log p(ids[t] | ids[<t]) for t = 1..n-1]}, " +
        "and \"last_logits\": [...] with --logits");
    private readonly Option<bool> _logits = OptionKinds.Flag("--logits", "with --json: also the logits after the last token (one per vocabulary entry)");

    public ScoreCommand() : base("score", "log-probability of each token of a sequence given the ones before it",
        "mezo score --model DIR (--ids 5,17,200 | --text \"...\") [--adapter DIR] [--backend cpu|cuda] [--dtype f32|f16|bf16] [--max-device-memory BYTES] [--json [--logits]]")
    {
        _model = new ModelOptions(this, withAdapter: true, withStreaming: true);
        _sequence = new SequenceOptions(this);
        Add(_json);
        Add(_logits);
    }

    protected override int Run(ParseResult result, TextWriter output)
    {
        _sequence.Check(result);
        if (result.GetValue(_logits) && !result.GetValue(_json)) throw Error("--logits goes with --json");

        using var loaded = _model.LoadWithAdapter(result);
        var model = loaded.Model;
        int[] ids = _sequence.Read(result, model);

        var batch = TokenBatch.Pack([ids], PaddingSide.Right);
        using var ws = model.CreateWorkspace(1, ids.Length);
        var rows = Enumerable.Range(0, ids.Length - 1).ToArray();
        var targets = ids[1..];
        var logProbs = new float[rows.Length];
        var lastLogits = new float[model.Spec.VocabSize];
        // Throws on a non-finite result, so nothing below prints half a report.
        model.ScoreTokensAndLogits(ws, batch, rows, targets, logProbs, [ids.Length - 1], lastLogits);
        int argmax = Array.IndexOf(lastLogits, lastLogits.Max());
        // Each token as its own text, and the most likely next one's, where the model has a tokenizer (--ids needs none).
        string[]? tokens = null;
        string? next = null;
        if (File.Exists(Path.Combine(model.Directory, "tokenizer.json")))
        {
            using var tokenizer = ModelOptions.Tokenizer(model);
            tokens = [.. ids.Select(id => tokenizer.Decode([id]))];
            next = tokenizer.Decode([argmax]);
        }

        if (result.GetValue(_json))
        {
            JsonOutput.Write(json =>
            {
                json.WriteStartObject();
                json.WriteStartArray("ids");
                foreach (int id in ids) json.WriteNumberValue(id);
                json.WriteEndArray();
                if (tokens is not null)
                {
                    json.WriteStartArray("tokens");
                    foreach (string token in tokens) json.WriteStringValue(token);
                    json.WriteEndArray();
                }
                json.WriteStartArray("logprobs");
                foreach (float lp in logProbs) json.WriteNumberValue(lp);
                json.WriteEndArray();
                if (result.GetValue(_logits))
                {
                    json.WriteStartArray("last_logits");
                    foreach (float l in lastLogits) json.WriteNumberValue(l);
                    json.WriteEndArray();
                }
                json.WriteEndObject();
            });
            return 0;
        }
        output.WriteLine($"{ids.Length} tokens, {model.Spec.ModelType} {Path.GetFileName(model.Directory)}");
        for (int t = 0; t < rows.Length; t++)
            output.WriteLine($"  {t + 1,5}  id {ids[t + 1],7}  {Shown(tokens?[t + 1]),-16}  log p = {logProbs[t],10:F4}");
        output.WriteLine($"total log p = {logProbs.Sum(x => (double)x):F4}, mean = {(rows.Length > 0 ? logProbs.Average(x => (double)x) : 0):F4}");
        output.WriteLine($"most likely next token: {argmax}{(next is null ? "" : " " + Shown(next))}");
        return 0;
    }

    /// <summary>A token's text quoted, with its whitespace and control characters visible (" is", "\n").</summary>
    private static string Shown(string? token) => token is null ? "" : System.Text.Json.JsonSerializer.Serialize(token);
}
