using MeZO.Engine.Models.Generation;
using System.Text.Json;
using MeZO.Engine.Models;

namespace MeZO.Cli.Commands;

/// <summary>`mezo generate`: greedy continuation of a prompt (DESIGN §5).</summary>
public sealed class GenerateCommand : ICommand
{
    public string Name => "generate";
    public string Summary => "greedy continuation of a prompt";
    public string Help => """
        mezo generate --model DIR (--prompt "..." | --ids 1,5,9) [--max-new-tokens N] [--adapter DIR] [--backend cpu|cuda] [--dtype ...] [--json]

          --prompt TEXT        text, tokenized with the family's first token (an empty prompt is that token alone)
          --ids LIST           comma-separated prompt token ids
          --max-new-tokens N   at most N new tokens (default 64); generation also stops at end-of-sequence
          --adapter DIR        a PEFT adapter folder (adapter_config.json, adapter_model.safetensors) applied to
                               the model without merging: a run's model/ or best/ after --peft, or PEFT's own
          --json               print {"new_ids": [...], "text": "..."}
        """;

    public int Run(IReadOnlyList<string> args, TextWriter output)
    {
        var cl = new CommandLine(Name, args, new HashSet<string>([.. ModelOptions.Names, ModelOptions.Adapter, "ids", "prompt", "max-new-tokens"]),
            new HashSet<string> { "json" });
        int[]? ids = cl.IntList("ids");
        string? prompt = cl.String("prompt");
        if ((ids is null) == (prompt is null)) throw cl.Error("give exactly one of --prompt or --ids");
        int maxNew = cl.Int("max-new-tokens", 64);
        if (maxNew < 0) throw cl.Error("--max-new-tokens must not be negative");

        using var loaded = ModelOptions.LoadWithAdapter(cl);
        var model = loaded.Model;
        using var tokenizer = ModelOptions.Tokenizer(model);
        ids ??= tokenizer.Encode(prompt!);
        if (ids.Length == 0)
            throw cl.Error("the prompt is empty and this model family has no first token to start from; give --prompt text or --ids");

        var generated = new TokenGenerator(model).Generate([ids], maxNew, model.Spec.EosTokenId)[0];
        string text = tokenizer.Decode(generated.Where(id => id != model.Spec.EosTokenId).ToArray());
        if (cl.Has("json"))
        {
            JsonOutput.Write(json =>
            {
                json.WriteStartObject();
                json.WriteStartArray("new_ids");
                foreach (int id in generated) json.WriteNumberValue(id);
                json.WriteEndArray();
                json.WriteString("text", text);
                json.WriteEndObject();
            });
            return 0;
        }
        output.WriteLine((prompt ?? "") + text);
        return 0;
    }
}
