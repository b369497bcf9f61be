using System.Text.Json;
using MeZO.Engine.Models;

namespace MeZO.Cli.Commands;

/// <summary>`mezo score`: log-probabilities of a token sequence under the model (DESIGN §5).</summary>
public sealed class ScoreCommand : ICommand
{
    public string Name => "score";
    public string Summary => "log-probability of each token of a sequence given the ones before it";
    public string Help => """
        mezo score --model DIR (--ids 5,17,200 | --text "...") [--adapter DIR] [--backend cpu|cuda] [--dtype f32|f16|bf16] [--json]

          --model DIR     Hugging Face model folder (config.json, *.safetensors, tokenizer.json for --text)
          --ids LIST      comma-separated token ids, used as given
          --text TEXT     text, tokenized with the model's tokenizer and its family's first token
          --adapter DIR   a PEFT adapter folder (adapter_config.json, adapter_model.safetensors) applied to the
                          model without merging: a run's model/ or best/ after --peft, or PEFT's own
          --json          print {"ids": [...], "logprobs": [log p(ids[t] | ids[<t]) for t = 1..n-1], "last_logits": [...]}
        """;

    public int Run(IReadOnlyList<string> args, TextWriter output)
    {
        var cl = new CommandLine(Name, args, new HashSet<string>([.. ModelOptions.Names, ModelOptions.Adapter, .. SequenceOptions.Names]), new HashSet<string> { "json" });
        SequenceOptions.Check(cl);

        using var loaded = ModelOptions.LoadWithAdapter(cl);
        var model = loaded.Model;
        int[] ids = SequenceOptions.Ids(cl, model);

        var batch = TokenBatch.Pack([ids], PaddingSide.Right);
        using var ws = model.CreateWorkspace(1, ids.Length);
        var rows = Enumerable.Range(0, ids.Length - 1).ToArray();
        var targets = ids[1..];
        var logProbs = new float[rows.Length];
        var lastLogits = new float[model.Spec.VocabSize];
        // Throws on a non-finite result, so nothing below prints half a report.
        model.ScoreTokensAndLogits(ws, batch, rows, targets, logProbs, [ids.Length - 1], lastLogits);

        if (cl.Has("json"))
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
