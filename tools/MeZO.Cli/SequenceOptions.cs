using System.CommandLine;
using MeZO.Engine;
using MeZO.Engine.Models;

namespace MeZO.Cli;

/// <summary>The one sequence a command runs the model over: `--ids 5,17,200` as given, or `--text "..."` tokenized.</summary>
internal sealed class SequenceOptions
{
    private readonly MezoCommand _command;

    public SequenceOptions(MezoCommand command, string idsDescription = "comma-separated token ids, used as given")
    {
        _command = command;
        command.Add(Ids = OptionKinds.IntList("--ids", "LIST", idsDescription));
        command.Add(Text = OptionKinds.Text("--text", "TEXT", "text, tokenized with the model's tokenizer and its family's first token"));
    }

    public Option<int[]?> Ids { get; }
    public Option<string?> Text { get; }

    /// <summary>Exactly one of the two, checked before a model is loaded.</summary>
    public void Check(ParseResult result)
    {
        if (result.Has(Ids) == result.Has(Text)) throw _command.Error("give exactly one of --ids or --text");
    }

    /// <summary>
    /// The ids, the text's with the model's tokenizer and its family's first token; an empty sequence, or one longer than
    /// the model's positions, is a user error.
    /// </summary>
    public int[] Read(ParseResult result, Transformer model)
    {
        int[] ids;
        if (result.GetValue(Text) is { } text)
        {
            using var tokenizer = ModelOptions.Tokenizer(model);
            ids = tokenizer.Encode(text);
        }
        else ids = result.GetValue(Ids)!;
        if (ids.Length == 0) throw _command.Error("the sequence is empty");
        // For every kind of positions: a rotary model computes past its trained length without complaint, and a learned
        // table would be read past its end; checked before a workspace is sized.
        if (ids.Length > model.Spec.MaxPositions)
            throw new InvalidInputException($"a sequence of {ids.Length} tokens exceeds the {model.Spec.MaxPositions} positions of {model.Directory}");
        return ids;
    }
}
