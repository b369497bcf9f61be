using System.CommandLine;
using System.CommandLine.Parsing;

namespace MeZO.Cli;

/// <summary>
/// A command line that does not parse, said in one line that names the option and the problem (DESIGN §5), where
/// System.CommandLine would print every error it found and the whole help: the first mistake in the order a user fixes
/// them (an unknown command, an option given twice, an option's value, then a word that belongs to nothing).
/// </summary>
internal static class ParseErrors
{
    public static string Describe(ParseResult result)
    {
        var command = result.CommandResult;
        bool atRoot = command.Command is RootCommand;
        string who = atRoot ? "mezo" : $"mezo {command.Command.Name}";
        string seeHelp = atRoot ? "(see 'mezo --help')" : $"(see 'mezo {command.Command.Name} --help')";

        if (atRoot && result.UnmatchedTokens.FirstOrDefault(t => !t.StartsWith('-')) is { } word)
        {
            var commands = command.Command.Subcommands.Select(c => c.Name).ToList();
            return $"mezo: unknown command '{word}'{DidYouMean(word, commands)} (commands: {string.Join(", ", commands)})";
        }

        // Options of this command and those the root passes down (--verbose), in the order they were typed.
        var options = new List<OptionResult>();
        for (SymbolResult? scope = command; scope is CommandResult c; scope = c.Parent)
            options.InsertRange(0, c.Children.OfType<OptionResult>());

        foreach (var option in options.Where(o => o.IdentifierTokenCount > 1))
        {
            var spellings = result.Tokens.Where(t => t.Type == TokenType.Option && Spells(option.Option, t.Value)).Select(t => t.Value).Distinct().ToList();
            return $"{who}: {GivenTwice(option)}{(spellings.Count > 1 ? $" (as {string.Join(" and ", spellings)})" : "")}";
        }
        foreach (var option in options)
        {
            string name = option.IdentifierToken?.Value ?? option.Option.Name;
            if (option.Tokens.Count == 0 && option.Option.Arity.MinimumNumberOfValues > 0) return $"{who}: {name} has no value";
            if (result.Errors.FirstOrDefault(e => e.SymbolResult == option || e.SymbolResult?.Parent == option) is { } error)
                return $"{who}: {error.Message}";
        }

        if (result.UnmatchedTokens.Count > 0)
        {
            string token = result.UnmatchedTokens[0];
            if (!token.StartsWith('-')) return $"{who}: unexpected argument '{token}' {seeHelp}";
            var known = new List<string>();
            for (SymbolResult? scope = command; scope is CommandResult c; scope = c.Parent)
                foreach (var option in c.Command.Options.Where(o => c == command || o.Recursive))
                    known.AddRange([option.Name, .. option.Aliases.Where(a => a.StartsWith("--", StringComparison.Ordinal))]);
            return $"{who}: unknown option {token}{DidYouMean(token, known)} {seeHelp}";
        }
        return $"{who}: {result.Errors[0].Message}";
    }

    public static string GivenTwice(OptionResult option) => $"{option.IdentifierToken?.Value ?? option.Option.Name} is given twice";

    private static bool Spells(Option option, string token) => option.Name == token || option.Aliases.Contains(token);

    private static string DidYouMean(string typed, IEnumerable<string> known) =>
        Suggestions.Closest(typed, known) is { Count: > 0 } closest ? $"; did you mean {string.Join(" or ", closest)}?" : "";
}
