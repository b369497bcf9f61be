using MeZO.Engine;
using MeZO.Engine.Models;

namespace MeZO.Cli;

/// <summary>The one sequence a command runs the model over: `--ids 5,17,200` as given, or `--text "..."` tokenized.</summary>
internal static class SequenceOptions
{
    public static readonly string[] Names = ["ids", "text"];

    /// <summary>Exactly one of the two, checked before a model is loaded.</summary>
    public static void Check(CommandLine cl)
    {
        if ((cl.IntList("ids") is null) == (cl.String("text") is null)) throw cl.Error("give exactly one of --ids or --text");
    }

    /// <summary>
    /// The ids, the text's with the model's tokenizer and its family's first token; an empty sequence, or one longer than
    /// the model's positions, is a user error.
    /// </summary>
    public static int[] Ids(CommandLine cl, Transformer model)
    {
        int[] ids;
        if (cl.String("text") is { } text)
        {
            using var tokenizer = ModelOptions.Tokenizer(model);
            ids = tokenizer.Encode(text);
        }
        else ids = cl.IntList("ids")!;
        if (ids.Length == 0) throw cl.Error("the sequence is empty");
        // For every kind of positions: a rotary model computes past its trained length without complaint, and a learned
        // table would be read past its end; checked before a workspace is sized.
        if (ids.Length > model.Spec.MaxPositions)
            throw new InvalidInputException($"a sequence of {ids.Length} tokens exceeds the {model.Spec.MaxPositions} positions of {model.Directory}");
        return ids;
    }
}
