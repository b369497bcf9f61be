namespace MeZO.Engine.Models;

/// <summary>config.json is missing, malformed, unsupported, or disagrees with the weights.</summary>
public sealed class ModelConfigException(string path, string problem) : InvalidInputException($"{path}: {problem}");
