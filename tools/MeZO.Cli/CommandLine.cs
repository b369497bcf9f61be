using System.Globalization;
using System.Numerics;
using MeZO.Engine;

namespace MeZO.Cli;

/// <summary>
/// `--long-option value` and `--flag` arguments of one command, checked against the options the command declares,
/// so a typo is an error that names the option rather than a silently ignored word.
/// </summary>
public sealed class CommandLine
{
    private readonly string _command;
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly List<string> _positional = [];

    public CommandLine(string command, IReadOnlyList<string> args, IReadOnlySet<string> valueOptions, IReadOnlySet<string> flags)
    {
        _command = command;
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) || a == "--")
            {
                _positional.Add(a);
                continue;
            }
            string name = a[2..];
            string? inline = null;
            int eq = name.IndexOf('=');
            if (eq >= 0)
            {
                inline = name[(eq + 1)..];
                name = name[..eq];
            }
            if (!flags.Contains(name) && !valueOptions.Contains(name))
                throw Error($"unknown option --{name} (see 'mezo {command} --help')");
            // The last of two values would silently win; which one was meant is the user's to say.
            if (_values.ContainsKey(name)) throw Error($"--{name} is given twice");
            if (flags.Contains(name) && inline is null)
            {
                _values[name] = null;
                continue;
            }
            if (inline is null)
            {
                // "--steps --out X" is a forgotten value, not a run folder named "--out".
                if (i + 1 >= args.Count || IsOption(args[i + 1], valueOptions, flags)) throw Error($"--{name} has no value");
                inline = args[++i];
            }
            _values[name] = inline;
        }
    }

    private static bool IsOption(string arg, IReadOnlySet<string> valueOptions, IReadOnlySet<string> flags)
    {
        if (!arg.StartsWith("--", StringComparison.Ordinal)) return false;
        string name = arg[2..].Split('=', 2)[0];
        return valueOptions.Contains(name) || flags.Contains(name);
    }

    public IReadOnlyList<string> Positional => _positional;

    /// <summary>The options given, in no particular order (flags and options with a value alike).</summary>
    public IEnumerable<string> Given => _values.Keys;

    public bool Has(string name) => _values.ContainsKey(name);

    public string? String(string name) => _values.GetValueOrDefault(name);

    public string RequiredString(string name) => String(name) ?? throw Error($"--{name} is required");

    public int Int(string name, int fallback) => Number(name, fallback, NumberStyles.Integer, "an integer");

    public long Long(string name, long fallback) => Number(name, fallback, NumberStyles.Integer, "an integer");

    public ulong ULong(string name, ulong fallback) => Number(name, fallback, NumberStyles.Integer, "a non-negative integer");

    /// <summary>A finite number: "NaN" or "Infinity" is refused like any other non-number.</summary>
    public double Double(string name, double fallback) => Number(name, fallback, NumberStyles.Float, "a number");

    private T Number<T>(string name, T fallback, NumberStyles styles, string what) where T : INumberBase<T>
    {
        string? s = String(name);
        if (s is null) return fallback;
        return T.TryParse(s, styles, CultureInfo.InvariantCulture, out var v) && T.IsFinite(v)
            ? v : throw Error($"--{name} must be {what}, got '{s}'");
    }

    /// <summary>A comma-separated list of integers, e.g. `--ids 5,17,200`.</summary>
    public int[]? IntList(string name)
    {
        string? s = String(name);
        if (s is null) return null;
        var parts = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var values = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out values[i]))
                throw Error($"--{name} must be comma-separated integers, '{parts[i]}' is not one");
        return values;
    }

    public InvalidInputException Error(string problem) => new($"mezo {_command}: {problem}");
}
