using MeZO.Trainer.Training;

namespace MeZO.Cli;

/// <summary>`--peft lora|prefix`, shared by `mezo train` and `mezo bench memory`.</summary>
internal static class PeftOption
{
    /// <summary>The adapter --peft names, or null when it is not given.</summary>
    public static PeftKind? Of(CommandLine cl) => cl.String("peft")?.ToLowerInvariant() switch
    {
        null => null,
        "lora" => PeftKind.Lora,
        "prefix" => PeftKind.Prefix,
        var other => throw cl.Error($"--peft '{other}' is unknown (lora, prefix)"),
    };
}
