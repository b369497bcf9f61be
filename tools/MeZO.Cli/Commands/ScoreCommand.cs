using System.CommandLine;
using MeZO.Engine.Models;

namespace MeZO.Cli.Commands;

/// <summary>`mezo score`: log-probabilities of a token sequence under the model (DESIGN §5).</summary>
public sealed class ScoreCommand : MezoCommand
{
    private readonly ModelOptions _model;
    private readonly SequenceOptions _sequence;
    private readonly Option<bool> _json = CommonOptions.Json(
        "print {\"ids\": [...], \"logprobs\": [log p(ids[t] | ids[<t]) for t = 1..n-1], \"last_logits\": [...]}");

    public ScoreCommand() : base("score", "log-probability of each token of a sequence given the ones before it",
        "mezo score --model DIR (--ids 5,17,200 | --text \"...\") [--adapter DIR] [--backend cpu|cuda] [--dtype f32|f16|bf16] [--json]")
    {
        _model = new ModelOptions(this, withAdapter: true);
        _sequence = new SequenceOptions(this);
        Add(_json);
    }

    protected override int Run(ParseResult result, TextWriter output)
    {
        _sequence.Check(result);

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

        if (result.GetValue(_json))
        {
            JsonOutput.Write(json =>
            {
                json.WriteStartObject();
                json.WriteStartArray("ids");
                foreach (int id in ids) json.WriteNumberValue(id);
                json.WriteEndArray();
                json.WriteStartArray("logprobs");
                foreach (float lp in logProbs) json.WriteNumberValue(lp);
                json.WriteEndArray();
                json.WriteStartArray("last_logits");
                foreach (float l in lastLogits) json.WriteNumberValue(l);
                json.WriteEndArray();
                json.WriteEndObject();
            });
            return 0;
        }
        output.WriteLine($"{ids.Length} tokens, {model.Spec.ModelType} {Path.GetFileName(model.Directory)}");
        for (int t = 0; t < rows.Length; t++)
            output.WriteLine($"  {t + 1,5}  id {ids[t + 1],7}  log p = {logProbs[t],10:F4}");
        output.WriteLine($"total log p = {logProbs.Sum(x => (double)x):F4}, mean = {(rows.Length > 0 ? logProbs.Average(x => (double)x) : 0):F4}");
        int argmax = Array.IndexOf(lastLogits, lastLogits.Max());
        output.WriteLine($"most likely next token: {argmax}");
        return 0;
    }
}
