using System.CommandLine;

namespace MeZO.Cli;

/// <summary>Options several commands take, defined once; each command words the default it applies.</summary>
internal static class CommonOptions
{
    /// <summary>`--batch-size B`; `--batch` was bench's, inspect's and verify's spelling and still works everywhere.</summary>
    public static Option<int?> BatchSize(string description, params string[] aliases) =>
        OptionKinds.Int("--batch-size", "B", description, ["--batch", .. aliases]);

    public static Option<int?> Length(string description) => OptionKinds.Int("--length", "T", description);

    public static Option<ulong?> Seed(string description) => OptionKinds.ULong("--seed", "N", description);

    public static Option<int?> MaxLength(string description) => OptionKinds.Int("--max-length", "N", description);

    public static Option<string?> Out(string helpName, string description, params string[] aliases) =>
        OptionKinds.Text("--out", helpName, description, aliases);

    public static Option<bool> Json(string description = "machine-readable output") => OptionKinds.Flag("--json", description);
}
