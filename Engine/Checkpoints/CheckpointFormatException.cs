namespace MeZO.Engine.Checkpoints;

/// <summary>
/// A damaged or inconsistent checkpoint. The message is one line, "&lt;file path&gt;: [tensor '&lt;name&gt;': ]&lt;problem&gt;",
/// so the command line can print it as is.
/// </summary>
public sealed class CheckpointFormatException : InvalidInputException
{
    public CheckpointFormatException(string filePath, string? tensorName, string problem, Exception? inner = null)
        : base(Compose(filePath, tensorName, problem), inner!)
    {
        FilePath = filePath;
        TensorName = tensorName;
    }

    /// <summary>The file (or model folder) that is wrong.</summary>
    public string FilePath { get; }

    /// <summary>The tensor the problem concerns, when it concerns one.</summary>
    public string? TensorName { get; }

    private static string Compose(string filePath, string? tensorName, string problem)
    {
        string tensor = tensorName is null ? "" : $"tensor '{OneLine(tensorName)}': ";
        return $"{filePath}: {tensor}{OneLine(problem)}";
    }

    // Problems may quote parser messages or names taken from the file itself; keep the message on one line.
    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
