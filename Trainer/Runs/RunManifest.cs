using System.Security.Cryptography;
using System.Text.Json;
using MeZO.Engine;

namespace MeZO.Trainer.Runs;

/// <summary>run.json: the settings, the base model (path and SHA-256 of each weight file) and the engine version.</summary>
public sealed record RunManifest
{
    public required TrainSettings Settings { get; init; }
    public required string BaseModel { get; init; }
    public required IReadOnlyDictionary<string, string> BaseWeightsSha256 { get; init; }
    public required string EngineVersion { get; init; }
    public required long TrainableParameters { get; init; }
    public required DateTimeOffset Created { get; init; }

    public const string FileName = "run.json";

    /// <summary>SHA-256 of each weight file of a model folder, by file name.</summary>
    public static IReadOnlyDictionary<string, string> HashWeights(string modelDirectory)
    {
        string[] weightFiles;
        using (var reader = Engine.Checkpoints.CheckpointReader.Open(modelDirectory))
            weightFiles = [.. reader.WeightFiles];
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string file in weightFiles)
        {
            using var stream = File.OpenRead(file);
            hashes[Path.GetFileName(file)] = Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        return hashes;
    }

    /// <summary>Whether <paramref name="modelDirectory"/> holds exactly the weights this run started from.</summary>
    public bool MatchesBase(string modelDirectory) =>
        HashWeights(modelDirectory).OrderBy(h => h.Key).SequenceEqual(BaseWeightsSha256.OrderBy(h => h.Key));

    public static string EngineVersionString =>
        typeof(InvalidInputException).Assembly.GetName().Version?.ToString(3) ?? "unknown";

    public void Write(string runDirectory) =>
        AtomicFile.WriteAllText(Path.Combine(runDirectory, FileName), JsonSerializer.Serialize(this, TrainSettings.Json));

    public static RunManifest Read(string runDirectory)
    {
        string path = Path.Combine(runDirectory, FileName);
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: missing (is {runDirectory} a MeZO run folder?)");
        try
        {
            return JsonSerializer.Deserialize<RunManifest>(File.ReadAllText(path), TrainSettings.Json)
                   ?? throw new InvalidInputException($"{path}: empty");
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: not a valid run manifest ({e.Message})");
        }
    }
}
