using System.CommandLine;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Generation;

namespace MeZO.Cli.Commands;

/// <summary>`mezo generate`: greedy continuation of a prompt (DESIGN §5).</summary>
public sealed class GenerateCommand : MezoCommand
{
    private readonly ModelOptions _model;
    private readonly Option<string?> _prompt = OptionKinds.Text("--prompt", "TEXT",
        "text, tokenized with the family's first token (an empty prompt is that token alone)");
    private readonly Option<int[]?> _ids = OptionKinds.IntList("--ids", "LIST", "comma-separated prompt token ids");
    private readonly Option<int?> _maxNewTokens = OptionKinds.Int("--max-new-tokens", "N",
        "at most N new tokens (default 64); generation also stops at end-of-sequence");
    private readonly Option<bool> _json = CommonOptions.Json("print {\"new_ids\": [...], \"text\": \"...\"}");

    public GenerateCommand() : base("generate", "greedy continuation of a prompt",
        "mezo generate --model DIR (--prompt \"...\" | --ids 1,5,9) [--max-new-tokens N] [--adapter DIR] [--backend cpu|cuda] [--dtype ...] [--json]")
    {
        _model = new ModelOptions(this, withAdapter: true);
        Add(_prompt);
        Add(_ids);
        Add(_maxNewTokens);
        Add(_json);
    }

    protected override int Run(ParseResult result, TextWriter output)
    {
        // Not given reads as an empty array, not null: "given" is asked of the parse.
        int[]? ids = result.Has(_ids) ? result.GetValue(_ids) : null;
        string? prompt = result.GetValue(_prompt);
        if ((ids is null) == (prompt is null)) throw Error("give exactly one of --prompt or --ids");
        int maxNew = result.GetValue(_maxNewTokens) ?? 64;
        if (maxNew < 0) throw Error("--max-new-tokens must not be negative");

        using var loaded = _model.LoadWithAdapter(result);
        var model = loaded.Model;
        using var tokenizer = ModelOptions.Tokenizer(model);
        ids ??= tokenizer.Encode(prompt!);
        if (ids.Length == 0)
            throw Error("the prompt is empty and this model family has no first token to start from; give --prompt text or --ids");

        var generated = new TokenGenerator(model).Generate([ids], maxNew, model.Spec.EosTokenId)[0];
        string text = tokenizer.Decode(generated.Where(id => id != model.Spec.EosTokenId).ToArray());
        if (result.GetValue(_json))
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
