using System.Text.Json;
using MeZO.Engine;
using MeZO.Trainer.Training;

namespace MeZO.Trainer.Runs;

/// <summary>
/// state.json inside a checkpoint folder, written in the same atomic rename as the weights: how many steps the
/// weights have taken and the best validation result so far.
/// </summary>
public sealed record RunState(long CompletedSteps, double? BestMetric, long? BestStep)
{
    public const string FileName = "state.json";

    public static RunState Read(string checkpointDirectory)
    {
        string path = Path.Combine(checkpointDirectory, FileName);
        try
        {
            return JsonSerializer.Deserialize<RunState>(File.ReadAllText(path), TrainSettings.Json)
                   ?? throw new InvalidInputException($"{path}: empty");
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            throw new InvalidInputException($"{path}: cannot read the checkpoint state ({e.Message})");
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, TrainSettings.Json);
}
