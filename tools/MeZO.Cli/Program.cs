using MeZO.Cli;
using MeZO.Cli.Commands;
using MeZO.Engine;

// Exit codes: 0 success, 1 a user error (one line on stderr), 2 an internal error.
ICommand[] commands =
[
    new ScoreCommand(),
    new GradCommand(),
    new GenerateCommand(),
    new InspectCommand(),
    new TrainCommand(),
    new EvalCommand(),
    new ReplayCommand(),
    new MergeCommand(),
    new VerifyCommand(),
    new BenchCommand(),

];

bool verbose = args.Contains("--verbose");
var rest = args.Where(a => a != "--verbose").ToArray();

if (rest.Length == 0 || rest[0] is "--help" or "-h" or "help")
{
    // Asked for: help on stdout, exit 0. No command at all is a usage error: the same text on stderr, exit 1.
    var to = rest.Length == 0 ? Console.Error : Console.Out;
    to.WriteLine("mezo — fine-tune language models with forward passes only (MeZO)\n");
    to.WriteLine("usage: mezo <command> [options]   (mezo <command> --help for its options)\n");
    foreach (var c in commands) to.WriteLine($"  {c.Name,-10} {c.Summary}");
    to.WriteLine("\nglobal: --verbose prints stack traces on errors");
    return rest.Length == 0 ? 1 : 0;
}

var command = commands.FirstOrDefault(c => c.Name == rest[0]);
if (command is null)
{
    Console.Error.WriteLine($"mezo: unknown command '{rest[0]}' (commands: {string.Join(", ", commands.Select(c => c.Name))})");
    return 1;
}
if (rest.Contains("--help") || rest.Contains("-h"))
{
    Console.WriteLine(command.Help);
    return 0;
}

try
{
    return command.Run(rest[1..], Console.Out);
}
catch (InvalidInputException e)
{
    Console.Error.WriteLine(verbose ? e.ToString() : e.Message);
    return 1;
}
catch (IOException e)
{
    Console.Error.WriteLine(verbose ? e.ToString() : $"mezo {command.Name}: {e.Message}");
    return 1;
}
catch (UnauthorizedAccessException e)
{
    Console.Error.WriteLine(verbose ? e.ToString() : $"mezo {command.Name}: {e.Message}");
    return 1;
}
catch (Exception e)
{
    Console.Error.WriteLine(verbose ? e.ToString() : $"mezo {command.Name}: internal error: {e.GetType().Name}: {e.Message} (run with --verbose for details)");
    return 2;
}
