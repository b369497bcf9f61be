using System.CommandLine;
using MeZO.Trainer.Training;

namespace MeZO.Cli;

/// <summary>`--peft lora|prefix`, shared by `mezo train` and `mezo bench memory`.</summary>
internal static class PeftOption
{
    public static Option<PeftKind?> Create(string description) =>
        OptionKinds.Choice<PeftKind>("--peft", description, ["lora", "prefix"], text => text switch
        {
            "lora" => PeftKind.Lora,
            "prefix" => PeftKind.Prefix,
            _ => null,
        });
}
