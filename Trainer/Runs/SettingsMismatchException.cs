using System.Globalization;
using MeZO.Engine;

namespace MeZO.Trainer.Runs;

/// <summary>One setting of <see cref="TrainSettings"/> (by property name) with the run's value and the value given now.</summary>
public sealed record SettingDifference(string Setting, object? Run, object? Given);

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
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "none",
    };
}
