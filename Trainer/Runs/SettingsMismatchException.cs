using System.Globalization;
using MeZO.Engine;
using MeZO.Trainer.Training;

namespace MeZO.Trainer.Runs;

/// <summary>
/// A resume was given settings other than the run's. The message names <see cref="TrainSettings"/> properties, as a
/// program that embeds the trainer knows them; <see cref="Describe"/> lets a front end name them its own way (`--lr`).
/// </summary>
public sealed class SettingsMismatchException(string manifestPath, IReadOnlyList<SettingDifference> differences)
    : InvalidInputException(Describe(manifestPath, differences, setting => setting))
{
    public string ManifestPath { get; } = manifestPath;
    public IReadOnlyList<SettingDifference> Differences { get; } = differences;

    public string Describe(Func<string, string> nameOf) => Describe(ManifestPath, Differences, nameOf);

    private static string Describe(string manifestPath, IEnumerable<SettingDifference> differences, Func<string, string> nameOf) =>
        $"--resume: the run in {manifestPath} was made with other settings (" +
        string.Join(", ", differences.Select(d => $"{nameOf(d.Setting)} {Show(d.Given)} given, the run's is {Show(d.Run)}")) +
        "); leave them out to continue with the run's own";

    private static string Show(object? value) => value switch
    {
        null => "none",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        // As the options spell them: bf16, linear, f1.
        Enum e => e.ToString().ToLowerInvariant(),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "none",
    };
}
