using System.CommandLine;
using MeZO.Engine;

namespace MeZO.Cli;

/// <summary>One `mezo` sub-command: its options, the usage lines and notes its help shows, and what it runs.</summary>
public abstract class MezoCommand : Command
{
    protected MezoCommand(string name, string summary, params string[] usage) : base(name, summary)
    {
        Usage = usage;
        SetAction(result => Run(result, Console.Out));
    }

    /// <summary>The forms the command takes, each a line of `mezo NAME --help`.</summary>
    public IReadOnlyList<string> Usage { get; }

    /// <summary>Text after the options in `--help` (environment variables, for instance).</summary>
    public string? Notes { get; protected init; }

    protected abstract int Run(ParseResult result, TextWriter output);

    /// <summary>A user error, one line on stderr: "mezo NAME: PROBLEM".</summary>
    public InvalidInputException Error(string problem) => new($"mezo {Name}: {problem}");

    /// <summary>The value of an option the command cannot do without.</summary>
    public string Required(ParseResult result, Option<string?> option) => result.GetValue(option) ?? throw Error($"{option.Name} is required");
}
