using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using MeZO.Engine;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Training;

namespace MeZO.Trainer.Runs;

/// <summary>
/// run.json: the settings, the engine version, and the SHA-256 of every file the run depends on: the base model's weight
/// files, its config and tokenizer files, and the task data files read. A resume refuses any of them changed, since each
/// changes the trajectory (config.json's rope_theta, a reshuffled train.tsv) while the run would still finish with exit 0.
/// </summary>
public sealed record RunManifest
{
    public required TrainSettings Settings { get; init; }
    public required string BaseModel { get; init; }
    public required IReadOnlyDictionary<string, string> BaseWeightsSha256 { get; init; }
    /// <summary>config.json, tokenizer.json and the other side files of the base model; null in run folders made before they were recorded.</summary>
    // Absent rather than null when such a manifest is written again (a resumed run extended to more steps).
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, string>? BaseFilesSha256 { get; init; }
    /// <summary>The task data files read, by name in the data folder; null in run folders made before they were recorded.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, string>? DataFilesSha256 { get; init; }
    /// <summary>
    /// The activations' dtype the run computes in, as resolved when it began: settings.compute, or the backend's default
    /// for the weights where that is null (the weights' own on CUDA, float32 on the CPU). A resume on another backend
    /// keeps it; null in run folders made before it was recorded.
    /// </summary>
    [JsonPropertyName("activations")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DType? Activations { get; init; }
    public required string EngineVersion { get; init; }
    public required long TrainableParameters { get; init; }
    /// <summary>The processes the run started on (mpirun's -np; 1 without it, and in run folders made before it was recorded).</summary>
    public int WorldSize { get; init; } = 1;
    public required DateTimeOffset Created { get; init; }

    public const string FileName = "run.json";

    /// <summary>SHA-256 of each weight file of a model folder, by file name.</summary>
    public static IReadOnlyDictionary<string, string> HashWeights(string modelDirectory)
    {
        using var reader = CheckpointReader.Open(modelDirectory);
        return Hash(reader.WeightFiles);
    }

    /// <summary>SHA-256 of the base model's config, tokenizer and other side files that exist, by file name.</summary>
    public static IReadOnlyDictionary<string, string> HashSideFiles(string modelDirectory) => Hash(RunFolder.ModelSideFiles(modelDirectory));

    private static SortedDictionary<string, string> Hash(IEnumerable<string> files)
    {
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string file in files)
        {
            using var stream = File.OpenRead(file);
            hashes[Path.GetFileName(file)] = Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        return hashes;
    }

    /// <summary>Whether <paramref name="modelDirectory"/> holds exactly the weights this run started from.</summary>
    public bool MatchesBase(string modelDirectory) => Differs(BaseWeightsSha256, HashWeights(modelDirectory)) is null;

    /// <summary>
    /// Throws, naming the first file, when the base model's weights or side files are not those the run started from.
    /// Runs made before side files were recorded are checked on their weights, with a note in <paramref name="notes"/>.
    /// </summary>
    public void RequireSameBase(string modelDirectory, string manifestPath, ICollection<string> notes)
    {
        RequireSame(BaseWeightsSha256, HashWeights(modelDirectory), modelDirectory, manifestPath);
        if (BaseFilesSha256 is null)
            notes.Add($"{manifestPath} records no hashes of config.json and tokenizer.json (an older run folder); they are not checked");
        else
            RequireSame(BaseFilesSha256, HashSideFiles(modelDirectory), modelDirectory, manifestPath);
    }

    /// <summary>Throws, naming the first file, when the data files read now are not those the run was trained on.</summary>
    public void RequireSameData(string dataDirectory, IReadOnlyDictionary<string, string> filesRead, string manifestPath, ICollection<string> notes)
    {
        if (DataFilesSha256 is null)
            notes.Add($"{manifestPath} records no hashes of the task data files (an older run folder); they are not checked");
        else
            RequireSame(DataFilesSha256, filesRead, dataDirectory, manifestPath);
    }

    /// <summary>The first file name whose hash differs or that is on one side only, or null when both agree.</summary>
    private static string? Differs(IReadOnlyDictionary<string, string> recorded, IReadOnlyDictionary<string, string> now) =>
        recorded.Keys.Union(now.Keys).Order(StringComparer.Ordinal)
            .FirstOrDefault(name => recorded.GetValueOrDefault(name) != now.GetValueOrDefault(name));

    private static void RequireSame(IReadOnlyDictionary<string, string> recorded, IReadOnlyDictionary<string, string> now,
        string folder, string manifestPath)
    {
        if (Differs(recorded, now) is not { } name) return;
        string problem = !now.ContainsKey(name) ? "is gone"
            : !recorded.ContainsKey(name) ? "was not there when the run started"
            : "has changed since the run started (its SHA-256 differs from the one recorded)";
        throw new InvalidInputException($"--resume: {Path.Combine(folder, name)} {problem} ({manifestPath}); " +
                                        "restore it, or start a new run");
    }

    public static string EngineVersionString =>
        typeof(InvalidInputException).Assembly.GetName().Version?.ToString(3) ?? "unknown";

    public void Write(string runDirectory) =>
        AtomicFile.WriteAllText(Path.Combine(runDirectory, FileName), JsonSerializer.Serialize(this, TrainSettings.Json));

    public static RunManifest Read(string runDirectory)
    {
        string path = Path.Combine(runDirectory, FileName);
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: missing (is {runDirectory} a MeZO run folder?)");
        RunManifest manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<RunManifest>(File.ReadAllText(path), TrainSettings.Json)
                       ?? throw new InvalidInputException($"{path}: empty");
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: not a valid run manifest ({e.Message})");
        }
        // Resume opens these folders; a blank or NUL-bearing path would otherwise fail inside Path.GetFullPath.
        RequireFolderPath(path, "settings.model", manifest.Settings.Model);
        RequireFolderPath(path, "settings.data", manifest.Settings.Data);
        // Token ids' dtypes are dtypes too, but no model computes in them or stores its weights in them.
        RequireFloatingPoint(path, "settings.d_type", manifest.Settings.Storage);
        RequireFloatingPoint(path, "settings.compute", manifest.Settings.Compute);
        RequireFloatingPoint(path, "activations", manifest.Activations);
        return manifest;
    }

    private static void RequireFloatingPoint(string manifestPath, string field, DType? value)
    {
        if (value is { } type && !type.IsFloatingPoint())
            throw new InvalidInputException($"{manifestPath}: {field} is {type.ToString().ToLowerInvariant()}, not a floating-point dtype (f32, f16, bf16)");
    }

    private static void RequireFolderPath(string manifestPath, string field, string value)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Contains('\0'))
            throw new InvalidInputException($"{manifestPath}: {field} is not a folder path ({JsonSerializer.Serialize(value)})");
    }
}
