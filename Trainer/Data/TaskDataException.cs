namespace MeZO.Trainer.Data;

/// <summary>
/// A task's data cannot be used: a missing folder or file, a malformed line, a label the task's verbalizer does not
/// know, or a split that is empty after sampling. The message is one line that names the file (and line) and says
/// what was expected, so the command line can print it as it is.
/// </summary>
public sealed class TaskDataException : MeZO.Engine.InvalidInputException
{
    public TaskDataException(string message) : base(message) { }

    public TaskDataException(string message, Exception inner) : base(message, inner) { }

    internal static TaskDataException MissingFolder(string task, string folder, string expected) =>
        new($"{task}: data folder not found: {folder} (expected a folder holding {expected})");

    internal static TaskDataException MissingFile(string task, string path, string expected) =>
        new($"{task}: data file not found: {path} (expected {expected})");

    internal static TaskDataException Malformed(string where, string problem) => new($"{where}: {problem}");

    internal static TaskDataException LabelOutsideVerbalizer(string where, string label, IEnumerable<string> known) =>
        new($"{where}: label {label} is not one of the task's labels ({string.Join(", ", known)})");
}
