namespace MeZO.Cli;

/// <summary>One `mezo` sub-command.</summary>
public interface ICommand
{
    string Name { get; }
    /// <summary>One line for `mezo --help`.</summary>
    string Summary { get; }
    /// <summary>The full `mezo NAME --help` text.</summary>
    string Help { get; }
    int Run(IReadOnlyList<string> args, TextWriter output);
}
