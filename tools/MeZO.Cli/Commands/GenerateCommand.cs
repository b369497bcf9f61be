using System.CommandLine;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Generation;

namespace MeZO.Cli.Commands;

/// <summary>`mezo generate`: continuation of a prompt, greedy or sampled (DESIGN §5).</summary>
public sealed class GenerateCommand : MezoCommand
{
    private readonly ModelOptions _model;
    private readonly Option<string?> _prompt = OptionKinds.Text("--prompt", "TEXT",
        "text, tokenized with the family's first token (an empty prompt is that token alone)");
    private readonly Option<int[]?> _ids = OptionKinds.IntList("--ids", "LIST", "comma-separated prompt token ids");
    private readonly Option<int?> _maxNewTokens = OptionKinds.Int("--max-new-tokens", "N",
        "at most N new tokens (default 64); generation also stops at end-of-sequence");
    private readonly Option<double?> _temperature = OptionKinds.Double("--temperature", "T",
        "sample from softmax(logits / T) instead of taking the most likely token (default 0: greedy)");
    private readonly Option<int?> _topK = OptionKinds.Int("--top-k", "K", "when sampling, only the K most likely tokens (default 0: all)");
    private readonly Option<double?> _topP = OptionKinds.Double("--top-p", "P",
        "when sampling, only the smallest set of most likely tokens whose probability reaches P (default 1: all)");
    private readonly Option<ulong?> _seed = CommonOptions.Seed("the sampling draws' seed: the same seed, the same text (default 0)");
    private readonly Option<string[]?> _stop = OptionKinds.TextList("--stop", "TEXT",
        "end the text where this string first appears (repeat for several); the string itself is cut off");
    private readonly Option<bool> _json = CommonOptions.Json("print {\"new_ids\": [...], \"text\": \"...\"}");

    public GenerateCommand() : base("generate", "continuation of a prompt, greedy or sampled",
        "mezo generate --model DIR (--prompt \"...\" | --ids 1,5,9) [--max-new-tokens N] [--temperature T --top-k K --top-p P --seed S] " +
        "[--stop TEXT ...] [--adapter DIR] [--backend cpu|cuda] [--dtype ...] [--max-device-memory BYTES] [--json]")
    {
        _model = new ModelOptions(this, withAdapter: true, withStreaming: true);
        Add(_prompt);
        Add(_ids);
        Add(_maxNewTokens);
        Add(_temperature);
        Add(_topK);
        Add(_topP);
        Add(_seed);
        Add(_stop);
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
        var sampling = new SamplingSettings(result.GetValue(_temperature) ?? 0, result.GetValue(_topK) ?? 0, result.GetValue(_topP) ?? 1,
            result.GetValue(_seed) ?? 0);
        sampling.Validate();
        if (sampling.Temperature == 0 && new Option[] { _topK, _topP, _seed }.FirstOrDefault(result.Has) is { } samplingOnly)
            throw Error($"{samplingOnly.Name} applies when sampling: give --temperature too (0, the default, decodes greedily)");
        string[] stops = result.Has(_stop) ? result.GetValue(_stop)! : [];
        if (stops.Any(string.IsNullOrEmpty)) throw Error("--stop needs a non-empty string");

        using var loaded = _model.LoadWithAdapter(result);
        var model = loaded.Model;
        using var tokenizer = ModelOptions.Tokenizer(model);
        ids ??= tokenizer.Encode(prompt!);
        if (ids.Length == 0)
            throw Error("the prompt is empty and this model family has no first token to start from; give --prompt text or --ids");

        int? eos = model.Spec.EosTokenId;
        string Text(IEnumerable<int> tokens) => tokenizer.Decode(tokens.Where(id => id != eos).ToArray());
        // A stop string may span tokens: the text so far is decoded after each one.
        Func<IReadOnlyList<int>, bool>? stopAfter = stops.Length == 0 ? null : tokens => stops.Any(Text(tokens).Contains);
        var generated = new TokenGenerator(model).Generate([ids], maxNew, eos, stopAfter, sampling: sampling)[0];
        string text = Text(generated);
        int cut = stops.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
        if (cut >= 0) text = text[..cut];
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
