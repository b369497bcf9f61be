using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using MeZO.Engine;
using MeZO.Engine.Models.Streaming;

namespace MeZO.Cli;

/// <summary>
/// The kinds of option `mezo` takes, each parsed the same way in every command. A value that is absent reads as null, so
/// a command tells "not given" from "given the default" (a resumed run keeps its own settings). Every message names the
/// spelling the user typed (`--max_steps must be an integer`), and a value that is another of the command's options is
/// a forgotten value: "--steps --out RUN" reads as "--steps has no value", not as a step count of "--out".
/// </summary>
internal static class OptionKinds
{
    public static Option<string?> Text(string name, string helpName, string description, params string[] aliases) =>
        Checked(new Option<string?>(name, aliases) { HelpName = helpName, Description = description, CustomParser = Value });

    public static Option<int?> Int(string name, string helpName, string description, params string[] aliases) =>
        Number<int>(name, helpName, description, NumberStyles.Integer, "an integer", aliases);

    public static Option<long?> Long(string name, string helpName, string description, params string[] aliases) =>
        Number<long>(name, helpName, description, NumberStyles.Integer, "an integer", aliases);

    public static Option<ulong?> ULong(string name, string helpName, string description, params string[] aliases) =>
        Number<ulong>(name, helpName, description, NumberStyles.Integer, "a non-negative integer", aliases);

    /// <summary>A finite number: "NaN" or "Infinity" is refused like any other non-number.</summary>
    public static Option<double?> Double(string name, string helpName, string description, params string[] aliases) =>
        Number<double>(name, helpName, description, NumberStyles.Float, "a number", aliases);

    /// <summary>A comma-separated list of integers, e.g. `--ids 5,17,200`.</summary>
    public static Option<int[]?> IntList(string name, string helpName, string description) =>
        Checked(new Option<int[]?>(name)
        {
            HelpName = helpName,
            Description = description,
            CustomParser = result =>
            {
                if (Value(result) is not { } text) return null;
                var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                var values = new int[parts.Length];
                for (int i = 0; i < parts.Length; i++)
                {
                    if (int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out values[i])) continue;
                    result.AddError($"{Spelling(result)} must be comma-separated integers, '{parts[i]}' is not one");
                    return null;
                }
                return values;
            },
        });

    /// <summary>A text that may be given several times (`--stop "\n" --stop "The end"`), each time one value.</summary>
    public static Option<string[]?> TextList(string name, string helpName, string description) =>
        new(name)
        {
            HelpName = helpName,
            Description = description,
            // One value per --stop; repeating the option adds values (no "given twice" here).
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
            CustomParser = result =>
            {
                var values = new string[result.Tokens.Count];
                for (int i = 0; i < values.Length; i++)
                {
                    string text = result.Tokens[i].Value;
                    if (result.Parent?.Parent is CommandResult command && IsOptionOf(command, text))
                        return Refuse<string[]?>(result, $"{Spelling(result)} has no value");
                    values[i] = text;
                }
                return values;
            },
        };

    /// <summary>A byte count, plain or with a suffix (512MiB, 2GiB); <see cref="ByteSize"/> reads it.</summary>
    public static Option<long?> Size(string name, string helpName, string description) =>
        Checked(new Option<long?>(name)
        {
            HelpName = helpName,
            Description = description,
            CustomParser = result =>
            {
                if (Value(result) is not { } text) return null;
                try
                {
                    return ByteSize.Parse(text, Spelling(result));
                }
                catch (InvalidInputException e)
                {
                    return Refuse<long?>(result, e.Message);
                }
            },
        });

    /// <summary>A switch: present or not, never followed by a value (so `inspect --json DIR` keeps DIR a folder).</summary>
    public static Option<bool> Flag(string name, string description, params string[] aliases) =>
        Checked(new Option<bool>(name, aliases) { Description = description, Arity = ArgumentArity.Zero });

    /// <summary>One of a few words, case-insensitive; any other is refused with the list of valid ones, which shell completion offers too.</summary>
    public static Option<T?> Choice<T>(string name, string description, string[] words, Func<string, T?> parse, params string[] aliases)
        where T : struct
    {
        var option = new Option<T?>(name, aliases)
        {
            HelpName = string.Join('|', words),
            Description = description,
            CustomParser = result => Value(result) is { } text
                ? parse(text.Trim().ToLowerInvariant()) ?? Refuse<T?>(result, $"{Spelling(result)} '{text}' is unknown ({string.Join(", ", words)})")
                : null,
        };
        // An enum's own completions would offer its member names (ZoSgd), which are not what the option accepts.
        option.CompletionSources.Clear();
        option.CompletionSources.Add(words);
        return Checked(option);
    }

    /// <summary>A word from <paramref name="words"/>, returned in its canonical (listed) spelling.</summary>
    public static Option<string?> Word(string name, string description, params string[] words)
    {
        var option = new Option<string?>(name)
        {
            HelpName = string.Join('|', words),
            Description = description,
            CustomParser = result => Value(result) is { } text
                ? words.FirstOrDefault(w => string.Equals(w, text.Trim(), StringComparison.OrdinalIgnoreCase))
                  ?? Refuse<string?>(result, $"{Spelling(result)} '{text}' is unknown ({string.Join(", ", words)})")
                : null,
        };
        option.CompletionSources.Add(words);
        return Checked(option);
    }

    /// <summary>Whether the option was typed on the command line (under any of its spellings).</summary>
    public static bool Has(this ParseResult result, Option option) => result.GetResult(option) is { Implicit: false };

    private static Option<T?> Number<T>(string name, string helpName, string description, NumberStyles styles, string what, string[] aliases)
        where T : struct, INumberBase<T> =>
        Checked(new Option<T?>(name, aliases)
        {
            HelpName = helpName,
            Description = description,
            CustomParser = result => Value(result) is not { } text ? null
                : T.TryParse(text, styles, CultureInfo.InvariantCulture, out var v) && T.IsFinite(v) ? v
                : Refuse<T?>(result, $"{Spelling(result)} must be {what}, got '{text}'"),
        });

    /// <summary>
    /// The last of two values would silently win; which one was meant is the user's to say. System.CommandLine itself
    /// lets a switch be repeated, and words a repeated value as an arity error; ParseErrors names both alike.
    /// </summary>
    private static TOption Checked<TOption>(TOption option) where TOption : Option
    {
        option.Validators.Add(result =>
        {
            if (result.IdentifierTokenCount > 1) result.AddError(ParseErrors.GivenTwice(result));
        });
        return option;
    }

    /// <summary>The option's one value, or null (with an error) when it is really the next option.</summary>
    private static string? Value(ArgumentResult result)
    {
        // Arity is checked before a parser runs: exactly one token is here.
        string text = result.Tokens[0].Value;
        if (result.Parent?.Parent is CommandResult command && IsOptionOf(command, text))
            return Refuse<string?>(result, $"{Spelling(result)} has no value");
        return text;
    }

    private static bool IsOptionOf(CommandResult command, string text)
    {
        string name = text.Split('=', ':')[0];
        for (SymbolResult? scope = command; scope is CommandResult c; scope = c.Parent)
            foreach (var option in c.Command.Options)
                if (option.Name == name || option.Aliases.Contains(name))
                    return true;
        return false;
    }

    private static T Refuse<T>(ArgumentResult result, string message)
    {
        result.AddError(message);
        return default!;
    }

    /// <summary>The spelling the user typed (--max_steps), else the option's name.</summary>
    private static string Spelling(ArgumentResult result) =>
        result.Parent is OptionResult option ? option.IdentifierToken?.Value ?? option.Option.Name : result.Argument.Name;
}
