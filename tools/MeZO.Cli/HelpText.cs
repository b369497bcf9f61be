using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Text;

namespace MeZO.Cli;

/// <summary>
/// `--help`: the usage lines, the summary, then one row per argument and option (every spelling, the value's name, and
/// the description with its default beside it), then the command's notes. Written here rather than by
/// System.CommandLine's help so that long descriptions keep the line breaks they were written with and the text is
/// wrapped at one width whether or not stdout is a terminal.
/// </summary>
public sealed class HelpText : SynchronousCommandLineAction
{
    private const int Width = 120;
    private const int MaxLabel = 30;

    public override bool ClearsParseErrors => true;

    public override int Invoke(ParseResult parseResult)
    {
        Write(parseResult.CommandResult.Command, parseResult.InvocationConfiguration.Output);
        return 0;
    }

    public static void Write(Command command, TextWriter output) => output.Write(Render(command));

    public static string Render(Command command)
    {
        var text = new StringBuilder();
        if (command is MezoCommand mezo)
        {
            for (int i = 0; i < mezo.Usage.Count; i++) text.AppendLine((i == 0 ? "usage: " : "       ") + mezo.Usage[i]);
            text.AppendLine().AppendLine(command.Description);
        }
        else
        {
            text.AppendLine($"mezo — {command.Description}").AppendLine();
            text.AppendLine("usage: mezo <command> [options]   (mezo <command> --help for its options)");
        }

        var options = command.Options.Where(o => !o.Hidden).ToList();
        foreach (var parent in command.Parents.OfType<Command>())
            options.AddRange(parent.Options.Where(o => o.Recursive && !o.Hidden && !options.Contains(o)));
        List<(string Label, string Description)>[] groups =
        [
            command.Subcommands.Select(c => (c.Name, c.Description ?? "")).ToList(),
            command.Arguments.Select(a => (a.HelpName ?? a.Name, a.Description ?? "")).ToList(),
            options.Select(o => (Label(o), o.Description ?? "")).ToList(),
        ];
        int labelWidth = Math.Min(MaxLabel, groups.SelectMany(g => g).Max(r => r.Label.Length)) + 2;
        foreach (var rows in groups.Where(g => g.Count > 0))
        {
            text.AppendLine();
            foreach (var (label, description) in rows)
            {
                var lines = description.Split('\n').SelectMany(line => Wrap(line.TrimEnd(), Width - 2 - labelWidth)).ToList();
                if (label.Length + 2 > labelWidth)
                {
                    text.AppendLine("  " + label);
                    foreach (string line in lines) text.AppendLine(new string(' ', 2 + labelWidth) + line);
                    continue;
                }
                for (int i = 0; i < lines.Count; i++)
                    text.AppendLine("  " + (i == 0 ? label : "").PadRight(labelWidth) + lines[i]);
            }
        }
        if (command is MezoCommand { Notes: { } notes })
        {
            text.AppendLine();
            foreach (string line in notes.Split('\n').SelectMany(line => Wrap(line, Width))) text.AppendLine(line);
        }
        return text.ToString();
    }

    /// <summary>"--lr, --learning_rate X": every spelling, then the value's name (none for a switch).</summary>
    private static string Label(Option option)
    {
        // System.CommandLine's help option also answers to /?, -? and /h; the help shows the usual two.
        string label = option is HelpOption ? "-h, --help" : string.Join(", ", new[] { option.Name }.Concat(option.Aliases.OrderBy(a => a.Length)));
        return option.Arity.MaximumNumberOfValues > 0 && option.HelpName is { } value ? $"{label} {value}" : label;
    }

    /// <summary>Word-wraps one line of a description; the line's own indent (a continued list item) is kept on each piece.</summary>
    private static IEnumerable<string> Wrap(string line, int width)
    {
        int depth = line.Length - line.TrimStart().Length;
        string indent = new(' ', depth);
        var current = new StringBuilder(indent);
        foreach (string word in line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (current.Length > depth && current.Length + 1 + word.Length > width)
            {
                yield return current.ToString();
                current.Clear().Append(indent);
            }
            if (current.Length > depth) current.Append(' ');
            current.Append(word);
        }
        yield return current.ToString();
    }
}
